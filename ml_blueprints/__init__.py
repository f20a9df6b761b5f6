"""ml-blueprints: reference architectures for ML data platforms on AWS, as CDK constructs.

The reusable part is :mod:`ml_blueprints.constructs`; :mod:`ml_blueprints.stacks` composes
those constructs into the layers this repository deploys.
"""

__version__ = "0.1.0"
