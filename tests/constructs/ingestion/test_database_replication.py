"""DatabaseReplication: DMS Serverless full load and change capture from the MySQL test
fixture into the raw zone as Parquet with the change timestamp and date folders, over TLS
with the secret's credentials, in the private subnets, encrypted with the lake key
everywhere, with its alarms; and the stack's context wiring."""

from __future__ import annotations

import json
from typing import Any

from ml_blueprints.constructs.ingestion.database_replication import REPLICATION_SETTINGS
from tests.conftest import Synthesized
from tests.constructs.ingestion.helpers import by_sid, one, role_statements, text

STACK = "Ingestion"


def _endpoints(synth: Synthesized, stack: str) -> dict[str, dict[str, Any]]:
    return {
        e["Properties"]["EndpointType"]: e["Properties"]
        for e in synth.resources(stack, "AWS::DMS::Endpoint").values()
    }


def test_it_replicates_full_load_and_changes_from_the_context_source(
    sandbox_project: Synthesized,
) -> None:
    _, replication = one(sandbox_project, STACK, "AWS::DMS::ReplicationConfig")
    props = replication["Properties"]
    assert props["ReplicationType"] == "full-load-and-cdc"
    assert props["ReplicationConfigIdentifier"] == props["ResourceIdentifier"] == "mlbp-sbx-shop"
    assert props["TableMappings"] == {
        "rules": [
            {
                "rule-type": "selection",
                "rule-id": "1",
                "rule-name": "include-1",
                "object-locator": {"schema-name": "shop", "table-name": "%"},
                "rule-action": "include",
            }
        ]
    }
    assert props["ReplicationSettings"] == REPLICATION_SETTINGS
    # Existing objects in the lake are never dropped, errors are logged, not skipped.
    assert props["ReplicationSettings"]["FullLoadSettings"] == {"TargetTablePrepMode": "DO_NOTHING"}
    compute = props["ComputeConfig"]
    assert (compute["MinCapacityUnits"], compute["MaxCapacityUnits"], compute["MultiAZ"]) == (
        1,
        4,
        False,
    )
    assert "LakeKey" in text(compute["KmsKeyId"])
    assert "DatabaseSubnetGroup" in text(compute["ReplicationSubnetGroupId"])


def test_the_source_is_mysql_over_tls_with_credentials_from_the_secret(
    sandbox_project: Synthesized,
) -> None:
    source = _endpoints(sandbox_project, STACK)["source"]
    assert source["EngineName"] == "mysql" and source["DatabaseName"] == "shop"
    assert source["SslMode"] == "require"
    assert "Password" not in source and "Username" not in source and "ServerName" not in source
    settings = source["MySqlSettings"]
    assert settings["SecretsManagerSecretId"] == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/dms-AbCdEf"
    )
    assert "DatabaseSecretAccessRole" in text(settings["SecretsManagerAccessRoleArn"])
    assert "LakeKey" in text(source["KmsKeyId"])
    _, role = one(sandbox_project, STACK, "AWS::IAM::Role", "DatabaseSecretAccessRole")
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert text(trust["Principal"]) == text(
        {"Service": {"Fn::Join": ["", ["dms.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    )
    [read] = role_statements(sandbox_project, STACK, "DatabaseSecretAccessRole")
    assert read["Action"] == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert read["Resource"] == settings["SecretsManagerSecretId"]


def test_the_target_writes_parquet_with_the_change_time_and_date_folders_with_the_lake_key(
    sandbox_project: Synthesized,
) -> None:
    target = _endpoints(sandbox_project, STACK)["target"]
    assert target["EngineName"] == "s3"
    s3 = target["S3Settings"]
    assert {k: s3[k] for k in s3 if not isinstance(s3[k], dict)} == {
        "BucketFolder": "databases",
        "DataFormat": "parquet",
        "ParquetVersion": "parquet-2-0",
        "ParquetTimestampInMillisecond": True,
        "EncryptionMode": "SSE_KMS",
        "TimestampColumnName": "dms_commit_ts",
        "IncludeOpForFullLoad": True,
        "CdcInsertsAndUpdates": False,
        "CdcInsertsOnly": False,
        "DatePartitionEnabled": True,
        "DatePartitionSequence": "YYYYMMDD",
        "DatePartitionDelimiter": "SLASH",
        "DatePartitionTimezone": "UTC",
        "CdcMaxBatchInterval": 60,
        "CdcMinFileSize": 32000,
        "CannedAclForObjects": "none",
    }
    assert "RawBucket" in text(s3["BucketName"])
    assert "LakeKey" in text(s3["ServerSideEncryptionKmsKeyId"])
    statements = by_sid(role_statements(sandbox_project, STACK, "DatabaseTargetRole"))
    assert text(statements["WriteThePrefix"]["Resource"]).endswith('/databases/*"]]}')
    assert sorted(statements["WriteThePrefix"]["Action"]) == [
        "s3:DeleteObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
    ]
    _, role = one(sandbox_project, STACK, "AWS::IAM::Role", "DatabaseTargetRole")
    assert "RoleName" not in role["Properties"]  # inside the VPC: not exempt from the endpoint


def test_it_runs_in_the_private_subnets_reaching_only_the_source_and_https(
    sandbox_project: Synthesized,
) -> None:
    _, group = one(sandbox_project, STACK, "AWS::DMS::ReplicationSubnetGroup")
    assert "PrivateSubnet" in text(group["Properties"]["SubnetIds"])
    _, sg = one(sandbox_project, STACK, "AWS::EC2::SecurityGroup", "DatabaseSecurityGroup")
    egress = sorted(sg["Properties"]["SecurityGroupEgress"], key=lambda r: r["FromPort"])
    assert [(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in egress] == [
        ("0.0.0.0/0", 443, 443),
        ("10.1.0.0/16", 3306, 3306),  # dms_source_cidr
    ]
    assert "SecurityGroupIngress" not in sg["Properties"]
    # The account-wide roles DMS needs, created before the subnet group.
    names = {
        r["Properties"].get("RoleName")
        for r in sandbox_project.resources(STACK, "AWS::IAM::Role").values()
    }
    assert {"dms-vpc-role", "dms-cloudwatch-logs-role"} <= names
    assert len(group["DependsOn"]) == 2


def test_its_log_group_is_encrypted_and_alarms_watch_latency_and_errors(
    sandbox_project: Synthesized,
) -> None:
    groups = sandbox_project.resources(STACK, "AWS::Logs::LogGroup")
    [log] = [g for g in groups.values() if "dms-serverless" in json.dumps(g)]
    assert log["Properties"]["LogGroupName"] == "dms-serverless-replication-mlbp-sbx-shop"
    assert "LakeKey" in text(log["Properties"]["KmsKeyId"])
    _, metric_filter = one(sandbox_project, STACK, "AWS::Logs::MetricFilter")
    assert metric_filter["Properties"]["FilterPattern"] == '"]E:"'
    alarms = {
        k.removeprefix("Database").split("Alarm")[0]: a["Properties"]
        for k, a in sandbox_project.resources(STACK, "AWS::CloudWatch::Alarm").items()
        if k.startswith("Database")
    }
    assert set(alarms) == {"SourceLatency", "TargetLatency", "Errors"}
    for name in ("SourceLatency", "TargetLatency"):
        alarm = alarms[name]
        assert alarm["Namespace"] == "AWS/DMS" and alarm["Threshold"] == 600
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "ReplicationConfigId"
        assert text(dimension["Value"]).endswith(':mlbp-sbx-shop"]]}')
    assert alarms["Errors"]["MetricName"] == "Errors-mlbp-sbx-shop"
    assert all(a["AlarmActions"] for a in alarms.values())


def test_the_variant_verifies_the_certificate_and_uses_its_own_settings(
    construct_variants: Synthesized,
) -> None:
    stack = "IngestionVariants"
    source = _endpoints(construct_variants, stack)["source"]
    assert source["SslMode"] == "verify-full"
    assert source["CertificateArn"].startswith("arn:aws:dms:eu-west-1:111122223333:cert:")
    _, replication = one(construct_variants, stack, "AWS::DMS::ReplicationConfig")
    props = replication["Properties"]
    compute = props["ComputeConfig"]
    assert (compute["MinCapacityUnits"], compute["MaxCapacityUnits"], compute["MultiAZ"]) == (
        2,
        16,
        True,
    )
    assert [r["object-locator"]["table-name"] for r in props["TableMappings"]["rules"]] == [
        "orders",
        "order_%",
    ]
    target = _endpoints(construct_variants, stack)["target"]
    assert target["S3Settings"]["TimestampColumnName"] == "changed_at"
    assert target["S3Settings"]["BucketFolder"] == "replicas/shop"
    _, sg = one(construct_variants, stack, "AWS::EC2::SecurityGroup", "ReplicationSecurityGroup")
    assert {(r["CidrIp"], r["FromPort"]) for r in sg["Properties"]["SecurityGroupEgress"]} == {
        ("0.0.0.0/0", 443),
        ("10.1.2.3/32", 3307),  # an IPv4 host: only that address
    }
    assert not any(
        r["Properties"].get("RoleName", "").startswith("dms-")
        for r in construct_variants.resources(stack, "AWS::IAM::Role").values()
    )
    # The fixture secret has its own key: the access role decrypts through Secrets Manager.
    statements = by_sid(role_statements(construct_variants, stack, "ReplicationSecretAccessRole"))
    assert statements["DecryptTheSecret"]["Condition"]["StringEquals"]["kms:ViaService"]
