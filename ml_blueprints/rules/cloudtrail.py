"""Rules for CloudTrail Lake event data stores (``AWS::CloudTrail::EventDataStore``), where
data events can be kept and queried; cdk-nag checks trails only."""

from __future__ import annotations

from ml_blueprints.rules.base import Properties, Rule, is_reference_or_nonempty, literal_bool

EVENT_DATA_STORE = "AWS::CloudTrail::EventDataStore"


def event_data_store_customer_managed_key(properties: Properties) -> bool:
    """KmsKeyId names a key (without it CloudTrail Lake encrypts with its own key)."""
    return is_reference_or_nonempty(properties.get("KmsKeyId"))


def event_data_store_termination_protection(properties: Properties) -> bool:
    """TerminationProtectionEnabled is absent (the service's default is true) or true."""
    value = properties.get("TerminationProtectionEnabled")
    return value is None or literal_bool(value) is True


RULES: tuple[Rule, ...] = (
    Rule(
        "CloudTrailEventDataStoreCustomerManagedKey",
        EVENT_DATA_STORE,
        "The CloudTrail Lake event data store is not encrypted with a customer-managed key.",
        "Audit events (data events included) deserve a key whose policy and use you control.",
        event_data_store_customer_managed_key,
    ),
    Rule(
        "CloudTrailEventDataStoreTerminationProtection",
        EVENT_DATA_STORE,
        "The CloudTrail Lake event data store can be deleted without turning off protection.",
        "Termination protection keeps the audit record from being deleted with a stack or by "
        "a single call.",
        event_data_store_termination_protection,
    ),
)
