"""The ingestion layer: how data reaches the lake besides streams (the course notes' batch
and device ingestion): database replication with DMS, DynamoDB exports, AWS Batch jobs,
MQTT devices through AWS IoT Core, and DataSync from on-premises file servers."""

from ml_blueprints.constructs.ingestion.batch_job import BatchJob
from ml_blueprints.constructs.ingestion.common import MonitoredStateMachine, StateMachineSchedule
from ml_blueprints.constructs.ingestion.database_replication import (
    DatabaseReplication,
    MySqlSource,
)
from ml_blueprints.constructs.ingestion.device_ingestion import DeviceIngestion
from ml_blueprints.constructs.ingestion.on_premises_sync import (
    NfsShare,
    OnPremisesSync,
    SmbShare,
)
from ml_blueprints.constructs.ingestion.table_export import TableExport

__all__ = [
    "BatchJob",
    "DatabaseReplication",
    "DeviceIngestion",
    "MonitoredStateMachine",
    "MySqlSource",
    "NfsShare",
    "OnPremisesSync",
    "SmbShare",
    "StateMachineSchedule",
    "TableExport",
]
