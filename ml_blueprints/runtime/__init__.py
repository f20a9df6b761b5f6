"""Code that runs inside AWS (Lambda handlers, Spark jobs). Pure Python, no CDK imports."""
