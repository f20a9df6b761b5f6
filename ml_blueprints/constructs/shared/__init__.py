"""Pieces every layer shares: the alert topic, the managed-policy role, secure defaults."""

from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole

__all__ = ["AlertTopic", "ManagedPolicyRole"]
