"""Rules for AWS DMS Serverless replications (``AWS::DMS::ReplicationConfig``) and DMS
endpoints (``AWS::DMS::Endpoint``).

cdk-nag 3.0.2 checks one thing about DMS: that a replication *instance* is not public. A
serverless replication config, its encryption and its network, and the endpoints (TLS to
the database, a password written into the template, an unencrypted S3 target) pass every
pack silently.
"""

from __future__ import annotations

from typing import Any

from ml_blueprints.rules.base import (
    Properties,
    Rule,
    get_path,
    is_intrinsic,
    is_reference_or_nonempty,
)

REPLICATION_CONFIG = "AWS::DMS::ReplicationConfig"
ENDPOINT = "AWS::DMS::Endpoint"
#: Engines reached through an AWS API over HTTPS, where an endpoint's SslMode means nothing.
API_ENGINES = frozenset(
    {"s3", "dynamodb", "kinesis", "opensearch", "elasticsearch", "neptune", "kafka"}
)
ENCRYPTING_SSL_MODES = frozenset({"require", "verify-ca", "verify-full"})


def _nonempty_list(value: Any) -> bool:
    return is_intrinsic(value) or (
        isinstance(value, list)
        and len(value) > 0
        and all(is_reference_or_nonempty(v) for v in value)
    )


def replication_config_encrypted(properties: Properties) -> bool:
    """The replication's storage is encrypted with a named KMS key (without one DMS uses
    the AWS-managed ``aws/dms`` key)."""
    return is_reference_or_nonempty(get_path(properties, "ComputeConfig", "KmsKeyId"))


def replication_config_in_vpc(properties: Properties) -> bool:
    """The replication runs in a subnet group of the caller's with its own security groups
    (without them DMS picks the default VPC and its default security group)."""
    compute = properties.get("ComputeConfig")
    return is_reference_or_nonempty(
        get_path(compute, "ReplicationSubnetGroupId")
    ) and _nonempty_list(get_path(compute, "VpcSecurityGroupIds"))


def _engine(properties: Properties) -> Any:
    engine = properties.get("EngineName")
    return engine.lower() if isinstance(engine, str) else engine


def endpoint_ssl(properties: Properties) -> bool:
    """A database endpoint encrypts its connection (SslMode require, verify-ca or
    verify-full); endpoints of AWS API engines (S3, Kinesis...) are exempt."""
    engine = _engine(properties)
    if isinstance(engine, str) and engine in API_ENGINES:
        return True
    return properties.get("SslMode") in ENCRYPTING_SSL_MODES


def endpoint_no_plaintext_password(properties: Properties) -> bool:
    """No password in the template: credentials come from Secrets Manager."""
    return properties.get("Password") is None


def s3_endpoint_encrypted(properties: Properties) -> bool:
    """An S3 endpoint writes SSE-KMS objects with a named key."""
    if _engine(properties) != "s3":
        return True
    settings = properties.get("S3Settings")
    return get_path(settings, "EncryptionMode") == "SSE_KMS" and is_reference_or_nonempty(
        get_path(settings, "ServerSideEncryptionKmsKeyId")
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "DMSReplicationConfigEncrypted",
        REPLICATION_CONFIG,
        "The DMS Serverless replication does not name a KMS key for its storage.",
        "A replication holds the data in flight (cached changes, full-load pages) on its "
        "storage; with a customer-managed key its use is yours to control and audit.",
        replication_config_encrypted,
    ),
    Rule(
        "DMSReplicationConfigInVpc",
        REPLICATION_CONFIG,
        "The DMS Serverless replication does not name its subnet group and security groups.",
        "Without them DMS places the replication in the default VPC with its default "
        "security group, outside the network controls the data was meant to stay inside.",
        replication_config_in_vpc,
    ),
    Rule(
        "DMSEndpointSsl",
        ENDPOINT,
        "The DMS database endpoint does not require TLS (SslMode none or absent).",
        "Replication reads every row and every change; over a plain connection the data and "
        "the credentials cross the network readable.",
        endpoint_ssl,
    ),
    Rule(
        "DMSEndpointNoPlaintextPassword",
        ENDPOINT,
        "The DMS endpoint has a password in the template.",
        "A password in a template is readable by anyone who can read the stack; use Secrets "
        "Manager (SecretsManagerSecretId and an access role) instead.",
        endpoint_no_plaintext_password,
    ),
    Rule(
        "DMSS3EndpointEncrypted",
        ENDPOINT,
        "The DMS S3 endpoint does not write SSE-KMS objects with a named key.",
        "Replicated tables are whole copies of a database; SSE-KMS with a customer-managed "
        "key keeps their reads auditable and revocable.",
        s3_endpoint_encrypted,
    ),
)
