"""Rules for DynamoDB global tables (``AWS::DynamoDB::GlobalTable``).

CDK's ``TableV2`` synthesizes a global table even for one region. cdk-nag 3.0.2 checks only
``AWS::DynamoDB::Table`` (point-in-time recovery, backup plans), so a ``TableV2`` without
recovery or encrypted with the AWS-owned key passes every pack silently. Recovery and keys
are per replica in a global table: every replica must have them.
"""

from __future__ import annotations

from typing import Any

from ml_blueprints.rules.base import (
    Properties,
    Rule,
    get_path,
    is_reference_or_nonempty,
    literal_bool,
)

GLOBAL_TABLE = "AWS::DynamoDB::GlobalTable"


def _replicas(properties: Properties) -> list[Any] | None:
    replicas = properties.get("Replicas")
    if not isinstance(replicas, list) or not replicas:
        return None
    return replicas


def global_table_pitr(properties: Properties) -> bool:
    """Every replica has point-in-time recovery enabled."""
    replicas = _replicas(properties)
    return replicas is not None and all(
        literal_bool(
            get_path(replica, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")
        )
        is True
        for replica in replicas
    )


def global_table_customer_managed_key(properties: Properties) -> bool:
    """Server-side encryption with KMS, and every replica names its customer-managed key
    (without a replica key DynamoDB uses the AWS-managed ``aws/dynamodb`` key)."""
    sse = properties.get("SSESpecification")
    if literal_bool(get_path(sse, "SSEEnabled")) is not True:
        return False
    if get_path(sse, "SSEType") != "KMS":
        return False
    replicas = _replicas(properties)
    return replicas is not None and all(
        _customer_managed(get_path(replica, "SSESpecification", "KMSMasterKeyId"))
        for replica in replicas
    )


def _customer_managed(key_id: Any) -> bool:
    """A key reference or a key id, ARN or alias that is not an AWS-managed ``alias/aws/``
    one (``alias/aws/dynamodb``, by name or ARN, literal or built with ``Fn::Join`` or
    ``Fn::Sub`` as ``kms.Alias.from_alias_name(...).key_arn`` synthesizes it)."""
    if not is_reference_or_nonempty(key_id):
        return False
    text = _literal_text(key_id)
    return text is None or not (text.startswith("alias/aws/") or ":alias/aws/" in text)


def _literal_text(value: Any) -> str | None:
    """The literal characters of a string, an ``Fn::Join`` of them or an ``Fn::Sub``
    template, with each reference inside replaced by a NUL (so it cannot complete a
    literal); ``None`` for other intrinsics (``Ref``, ``Fn::GetAtt``, ...)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        return None
    [(function, argument)] = value.items()
    if function == "Fn::Sub":
        template = argument[0] if isinstance(argument, list) and argument else argument
        return template if isinstance(template, str) else None
    if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        delimiter, parts = argument
        if isinstance(delimiter, str) and isinstance(parts, list):
            return delimiter.join(
                text if (text := _literal_text(part)) is not None else "\0" for part in parts
            )
    return None


RULES: tuple[Rule, ...] = (
    Rule(
        "DynamoDBGlobalTablePITR",
        GLOBAL_TABLE,
        "A replica of the DynamoDB global table does not have point-in-time recovery.",
        "Point-in-time recovery restores a table to any second of the last 35 days after an "
        "accidental delete or a bad write; a global table replicates mistakes to every "
        "region, so each replica needs its own recovery.",
        global_table_pitr,
    ),
    Rule(
        "DynamoDBGlobalTableCustomerManagedKey",
        GLOBAL_TABLE,
        "The DynamoDB global table is not encrypted with a customer-managed KMS key in "
        "every replica.",
        "With the AWS-owned or AWS-managed key the key policy, rotation and the audit trail "
        "of every use of the key are not yours to control or revoke.",
        global_table_customer_managed_key,
    ),
)
