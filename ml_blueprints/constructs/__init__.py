"""Reusable L3 constructs, grouped by layer; this module is the one import path.

    from ml_blueprints.constructs import PrivateNetwork, SecureDataLake, StreamingIngestion

Each layer is a subpackage (``shared``, ``storage``, ``streaming``, ``analytics``,
``bigdata``, ``ml``) whose ``__all__`` lists its public names; every one of them is
re-exported here, and a test fails when one is not.
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
from ml_blueprints.constructs.ml import (
    AcceleratedInstance,
    AcceleratorKind,
    GpuNotebook,
    ImageKind,
    SageMakerEndpoint,
    TrainingPipeline,
    Use,
    default_image,
    image_kind,
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
    "Column",
    "Compression",
    "DataCatalog",
    "EtlWorkflow",
    "FleetType",
    "GpuNotebook",
    "ImageKind",
    "ManagedPolicyRole",
    "NamedQuery",
    "PrivateNetwork",
    "RecordFormat",
    "SageMakerEndpoint",
    "SecureDataLake",
    "SparkCluster",
    "SparkEtlJob",
    "SparkStep",
    "StreamLoad",
    "StreamingIngestion",
    "TrainingPipeline",
    "Use",
    "ZoneCrawl",
    "ZoneLifecycle",
    "default_image",
    "image_kind",
    "queries_for_curated_events",
    "shards_for",
]
