"""The training job's source directory: :mod:`train` is the entry point SageMaker runs in the
Hugging Face PyTorch training container. The pipeline ships this directory, as it is, as the
job's ``sourcedir.tar.gz``; a package only so that it installs with ml-blueprints."""
