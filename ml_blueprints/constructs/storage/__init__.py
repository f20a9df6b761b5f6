"""The data lake layer: a private network and the secure, zoned S3 data lake."""

from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import (
    DEFAULT_LIFECYCLES,
    DEFAULT_ZONES,
    SecureDataLake,
    ZoneLifecycle,
)

__all__ = [
    "DEFAULT_LIFECYCLES",
    "DEFAULT_ZONES",
    "PrivateNetwork",
    "SecureDataLake",
    "ZoneLifecycle",
]
