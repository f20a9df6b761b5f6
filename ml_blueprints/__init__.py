"""ml-blueprints: reference architectures for ML data platforms on AWS, as CDK constructs.

The reusable part is :mod:`ml_blueprints.constructs`; :mod:`ml_blueprints.stacks` composes
those constructs into the layers this repository deploys.
"""

from ml_blueprints.toolchain import use_supported_node

# aws-cdk-lib starts a Node process (jsii) on first import: make it a supported Node when
# the one on PATH is end of life and the `toolchain` extra ships a newer one.
use_supported_node()

__version__ = "0.1.0"
