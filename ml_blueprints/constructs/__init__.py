"""Reusable L3 constructs, one module per pattern.

from ml_blueprints.constructs import PrivateNetwork, SecureDataLake
"""

from ml_blueprints.constructs.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.private_network import PrivateNetwork
from ml_blueprints.constructs.secure_data_lake import (
    DEFAULT_LIFECYCLES,
    DEFAULT_ZONES,
    SecureDataLake,
    ZoneLifecycle,
)

__all__ = [
    "DEFAULT_LIFECYCLES",
    "DEFAULT_ZONES",
    "ManagedPolicyRole",
    "PrivateNetwork",
    "SecureDataLake",
    "ZoneLifecycle",
]
