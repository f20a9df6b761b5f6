"""One stack per architecture layer. Stacks only compose constructs."""

from ml_blueprints.stacks.analytics import AnalyticsStack
from ml_blueprints.stacks.data_lake import DataLakeStack
from ml_blueprints.stacks.emr import EmrStack
from ml_blueprints.stacks.governance import GovernanceStack
from ml_blueprints.stacks.ingestion import IngestionStack
from ml_blueprints.stacks.ml import MlStack
from ml_blueprints.stacks.real_time import RealTimeStack
from ml_blueprints.stacks.serving import ServingStack

__all__ = [
    "AnalyticsStack",
    "DataLakeStack",
    "EmrStack",
    "GovernanceStack",
    "IngestionStack",
    "MlStack",
    "RealTimeStack",
    "ServingStack",
]
