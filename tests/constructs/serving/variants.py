"""Serving-layer constructs with non-default props, for tests/constructs/variants.py: a
warehouse in the lake's own stack (three AZs, 8 RPUs, two limits, one Spectrum zone, an
imported key, a client CIDR) and a results table with a reader."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from ml_blueprints.constructs import (
    ManagedPolicyRole,
    PrivateNetwork,
    ResultsTable,
    RpuHoursLimit,
    SecureDataLake,
    Warehouse,
)

IMPORTED_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ANALYST_CIDR = "10.20.0.0/16"


def build_serving_variants(app: cdk.App, env: cdk.Environment) -> None:
    stack = cdk.Stack(app, "ServingVariants", env=env)
    network = PrivateNetwork(stack, "Network", cidr="10.20.0.0/16", max_azs=3)
    lake = SecureDataLake(
        stack,
        "Lake",
        vpc_endpoint=network.s3_endpoint,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    warehouse = Warehouse(
        stack,
        "Warehouse",
        lake=lake,
        network=network,
        catalog_database_name="team_lake",
        external_schema_name="curated",
        spectrum_zones=["curated"],
        base_capacity=8,
        usage_limits=[
            RpuHoursLimit(rpu_hours=20, period="daily", breach_action="deactivate"),
            RpuHoursLimit(rpu_hours=100, period="weekly", breach_action="emit-metric"),
        ],
        max_query_seconds=600,
        port=5440,
        admin_username="team_admin",
        encryption_key=kms.Key.from_key_arn(stack, "ImportedKey", IMPORTED_KEY_ARN),
        log_retention_days=30,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    warehouse.allow_from(ec2.Peer.ipv4(ANALYST_CIDR), "Analysts' SQL clients")

    results = ResultsTable(
        stack,
        "Results",
        table_name="team-ml-results",
        recovery_period_days=7,
        deletion_protection=True,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    reader = ManagedPolicyRole(
        stack,
        "ResultsReader",
        assumed_by=iam.AccountRootPrincipal(),
        description="Lists training runs",
    )
    results.grant_read_results(reader)  # acknowledges the index wildcard itself
