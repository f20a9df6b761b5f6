"""Reusable L3 constructs, grouped by layer; this module is the one import path.

    from ml_blueprints.constructs import PrivateNetwork, SecureDataLake, StreamingIngestion

Each layer is a subpackage (``shared``, ``storage``, ``streaming``, ``analytics``,
``bigdata``, ``ml``, ``governance``, ``serving``, ``ingestion``) whose ``__all__`` lists its
public names; every one of them is re-exported here, and a test fails when one is not.
"""

from ml_blueprints.constructs.analytics import (
    DataCatalog,
    EtlWorkflow,
    NamedQuery,
    SparkEtlJob,
    ZoneCrawl,
    queries_for_curated_events,
)
from ml_blueprints.constructs.bigdata import FleetType, SparkCluster, SparkStep
from ml_blueprints.constructs.governance import AuditTrail, BudgetThresholds, CostBudget
from ml_blueprints.constructs.ingestion import (
    BatchJob,
    DatabaseReplication,
    DeviceIngestion,
    MonitoredStateMachine,
    MySqlSource,
    NfsShare,
    OnPremisesSync,
    SmbShare,
    StateMachineSchedule,
    TableExport,
)
from ml_blueprints.constructs.ml import (
    AcceleratedInstance,
    AcceleratorKind,
    GpuNotebook,
    ImageKind,
    SageMakerEndpoint,
    TrainingDataStep,
    TrainingPipeline,
    Use,
    default_image,
    image_kind,
)
from ml_blueprints.constructs.serving import (
    ResultsTable,
    RpuHoursLimit,
    RunRecordTasks,
    SetupFunction,
    TrainingRunPaths,
    Warehouse,
)
from ml_blueprints.constructs.shared import AlertTopic, ManagedPolicyRole
from ml_blueprints.constructs.storage import (
    DEFAULT_LIFECYCLES,
    DEFAULT_ZONES,
    PrivateNetwork,
    SecureDataLake,
    ZoneLifecycle,
)
from ml_blueprints.constructs.streaming import (
    DEFAULT_COLUMNS,
    Column,
    Compression,
    RecordFormat,
    StreamingIngestion,
    StreamLoad,
    shards_for,
)

__all__ = [
    "DEFAULT_COLUMNS",
    "DEFAULT_LIFECYCLES",
    "DEFAULT_ZONES",
    "AcceleratedInstance",
    "AcceleratorKind",
    "AlertTopic",
    "AuditTrail",
    "BatchJob",
    "BudgetThresholds",
    "Column",
    "Compression",
    "CostBudget",
    "DataCatalog",
    "DatabaseReplication",
    "DeviceIngestion",
    "EtlWorkflow",
    "FleetType",
    "GpuNotebook",
    "ImageKind",
    "ManagedPolicyRole",
    "MonitoredStateMachine",
    "MySqlSource",
    "NamedQuery",
    "NfsShare",
    "OnPremisesSync",
    "PrivateNetwork",
    "RecordFormat",
    "ResultsTable",
    "RpuHoursLimit",
    "RunRecordTasks",
    "SageMakerEndpoint",
    "SecureDataLake",
    "SetupFunction",
    "SmbShare",
    "SparkCluster",
    "SparkEtlJob",
    "SparkStep",
    "StateMachineSchedule",
    "StreamLoad",
    "StreamingIngestion",
    "TableExport",
    "TrainingDataStep",
    "TrainingPipeline",
    "TrainingRunPaths",
    "Use",
    "Warehouse",
    "ZoneCrawl",
    "ZoneLifecycle",
    "default_image",
    "image_kind",
    "queries_for_curated_events",
    "shards_for",
]
