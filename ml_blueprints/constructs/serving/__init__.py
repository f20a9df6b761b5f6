"""The serving layer: Redshift Serverless with Spectrum over the lake, and DynamoDB for ML
outputs (the course notes' data stores an ML platform serves from)."""

from ml_blueprints.constructs.serving.results_table import (
    ResultsTable,
    RunRecordTasks,
    TrainingRunPaths,
)
from ml_blueprints.constructs.serving.warehouse import RpuHoursLimit, Warehouse
from ml_blueprints.constructs.serving.warehouse_setup import SetupFunction

__all__ = [
    "ResultsTable",
    "RpuHoursLimit",
    "RunRecordTasks",
    "SetupFunction",
    "TrainingRunPaths",
    "Warehouse",
]
