"""Reusable L3 constructs, one module per pattern.

from ml_blueprints.constructs import PrivateNetwork, SecureDataLake
"""

from ml_blueprints.constructs.alert_topic import AlertTopic
from ml_blueprints.constructs.kinesis_sizing import StreamLoad, shards_for
from ml_blueprints.constructs.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.private_network import PrivateNetwork
from ml_blueprints.constructs.secure_data_lake import (
    DEFAULT_LIFECYCLES,
    DEFAULT_ZONES,
    SecureDataLake,
    ZoneLifecycle,
)
from ml_blueprints.constructs.streaming_ingestion import (
    DEFAULT_COLUMNS,
    Column,
    Compression,
    RecordFormat,
    StreamingIngestion,
)

__all__ = [
    "DEFAULT_COLUMNS",
    "DEFAULT_LIFECYCLES",
    "DEFAULT_ZONES",
    "AlertTopic",
    "Column",
    "Compression",
    "ManagedPolicyRole",
    "PrivateNetwork",
    "RecordFormat",
    "SecureDataLake",
    "StreamLoad",
    "StreamingIngestion",
    "ZoneLifecycle",
    "shards_for",
]
