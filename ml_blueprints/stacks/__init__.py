"""One stack per architecture layer. Stacks only compose constructs."""

from ml_blueprints.stacks.data_lake import DataLakeStack

__all__ = ["DataLakeStack"]
