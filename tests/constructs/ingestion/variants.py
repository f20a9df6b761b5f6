"""Ingestion-layer constructs with non-default props, for tests/constructs/variants.py, all in
the lake's own stack (roles exempted by ARN, not by name): a DMS replication from the test
fixture's MySQL source (a secret in the stack stands for the database's credentials) with
certificate verification, Multi-AZ and wider capacity; a full-only ION export of a
``dynamodb.Table``; a Fargate Spot Batch job with a command and no schedule; devices on
``fleet/sensors/+/data``; DataSync from NFS with point-in-time verification, a bandwidth
limit and excludes."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from ml_blueprints.compliance import acknowledge, acknowledge_rule
from ml_blueprints.constructs import (
    AlertTopic,
    BatchJob,
    DatabaseReplication,
    DeviceIngestion,
    MySqlSource,
    NfsShare,
    OnPremisesSync,
    PrivateNetwork,
    SecureDataLake,
    TableExport,
)

STACK = "IngestionVariants"
CERTIFICATE_ARN = "arn:aws:dms:eu-west-1:111122223333:cert:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
AGENT_ARN = "arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0"
IMAGE = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/scorer@sha256:" + "ab" * 32
SOURCE_HOST = "10.1.2.3"


def mysql_source(secret: secretsmanager.ISecret, **overrides: object) -> MySqlSource:
    """The test fixture standing for a user's MySQL database."""
    props: dict[str, object] = {
        "host": SOURCE_HOST,
        "port": 3307,
        "database": "shop",
        "secret": secret,
        "tables": ("orders", "order_%"),
        "ssl_mode": "verify-full",
        "certificate_arn": CERTIFICATE_ARN,
    }
    props.update(overrides)
    return MySqlSource(**props)  # type: ignore[arg-type]


def fixture_secret(stack: cdk.Stack) -> secretsmanager.Secret:
    """The source's credentials in DMS's format, encrypted with a key of their own."""
    key = kms.Key(
        stack,
        "SourceSecretKey",
        enable_key_rotation=True,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        pending_window=cdk.Duration.days(7),
    )
    secret = secretsmanager.Secret(
        stack,
        "SourceSecret",
        encryption_key=key,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template=(
                f'{{"username": "dms_reader", "host": "{SOURCE_HOST}", "port": 3307}}'
            ),
            generate_string_key="password",
            exclude_punctuation=True,
        ),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    reason = (
        "Test fixture standing for a user's database credentials: the secret holds a "
        "generated password nothing connects with, so there is nothing to rotate."
    )
    acknowledge(secret, "AwsSolutions-SMG4", reason)
    acknowledge_rule(secret, "SecretsManagerRotationEnabled", reason)
    return secret


def build_ingestion_layer_variants(app: cdk.App, env: cdk.Environment) -> None:
    stack = cdk.Stack(app, STACK, env=env)
    removal = cdk.RemovalPolicy.DESTROY
    network = PrivateNetwork(stack, "Network", cidr="10.30.0.0/16")
    network.add_interface_endpoints(stack, ["ecr.api", "ecr.dkr", "logs", "secretsmanager"])
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint, removal_policy=removal)
    alerts = AlertTopic(stack, "Alerts", removal_policy=removal)

    DatabaseReplication(
        stack,
        "Replication",
        source=mysql_source(fixture_secret(stack)),
        lake=lake,
        network=network,
        prefix="replicas/shop",
        min_capacity_units=2,
        max_capacity_units=16,
        multi_az=True,
        timestamp_column="changed_at",
        latency_alarm_seconds=300,
        replication_id="team-shop",
        create_service_roles=False,
        alerts=alerts,
        log_retention_days=30,
        removal_policy=removal,
    )

    table = dynamodb.Table(
        stack,
        "Features",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=removal,
    )
    acknowledge_rule(
        table,
        "DynamoDBInBackupPlan",
        "Test table: point-in-time recovery (35 days) is its backup; a backup plan is the "
        "owner's retention decision beyond that.",
    )
    TableExport(
        stack,
        "FeaturesExport",
        table=table,
        lake=lake,
        zone="curated",
        prefix="snapshots/features",
        incremental=False,
        schedule="cron(30 4 ? * SUN *)",
        export_format="ION",
        poll_seconds=300,
        timeout_hours=4,
        alerts=alerts,
        log_retention_days=30,
        removal_policy=removal,
    )

    BatchJob(
        stack,
        "Scorer",
        image=IMAGE,
        lake=lake,
        network=network,
        zone="curated",
        prefix="scores",
        command=["python", "-m", "scorer", "--date", "today"],
        environment={"MODEL": "v3"},
        vcpus=2,
        memory_mib=8192,
        max_vcpus=32,
        spot=True,
        user="1001:1001",
        ephemeral_storage_gib=50,
        attempts=3,
        timeout_minutes=120,
        schedule=None,
        job_name="team-scorer",
        alerts=alerts,
        log_retention_days=30,
        removal_policy=removal,
    )

    stream = kinesis.Stream(
        stack,
        "Telemetry",
        stream_mode=kinesis.StreamMode.ON_DEMAND,
        encryption=kinesis.StreamEncryption.KMS,
        encryption_key=lake.key,
        removal_policy=removal,
    )
    acknowledge(
        stream,
        "AwsSolutions-KDS3",
        "Test stream encrypted with the lake's customer-managed key on purpose, as the "
        "real-time layer's stream is.",
    )
    DeviceIngestion(
        stack,
        "Sensors",
        stream=stream,
        lake=lake,
        error_prefix="sensors",
        topic_root="fleet/sensors",
        topic_leaf="data",
        event_type="sensor.reading",
        rule_name="team_sensors",
    )

    OnPremisesSync(
        stack,
        "Archive",
        agent_arns=[AGENT_ARN],
        source=NfsShare(server="nas.corp.example.com", path="/exports/archive", version="NFS4_1"),
        lake=lake,
        prefix="archive",
        schedule="rate(12 hours)",
        verify_mode="POINT_IN_TIME_CONSISTENT",
        bandwidth_mbps=200,
        excludes=["*.tmp", "/scratch"],
        task_name="team-archive",
        alerts=alerts,
        log_retention_days=30,
        removal_policy=removal,
    )
