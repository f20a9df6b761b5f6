"""ml-blueprints: reference architectures for ML data platforms on AWS, as CDK constructs.

The reusable part is :mod:`ml_blueprints.constructs`; :mod:`ml_blueprints.stacks` composes
those constructs into the layers this repository deploys.
"""

from ml_blueprints._node_hook import point_jsii_at_wheel_node

# aws-cdk-lib starts a Node process (jsii) on first import. The package's .pth file points
# jsii at the `toolchain` extra's Node when Python starts; this covers an environment where
# the .pth file is not installed, when ml_blueprints is imported before aws_cdk.
point_jsii_at_wheel_node()

__version__ = "0.1.0"
