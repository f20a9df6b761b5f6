"""StreamingIngestion: stream, delivery, transform, table, alarms and least privilege."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_glue as glue

from ml_blueprints.constructs import (
    Column,
    Compression,
    PrivateNetwork,
    RecordFormat,
    SecureDataLake,
    StreamingIngestion,
    StreamLoad,
)
from ml_blueprints.constructs.streaming.streaming_ingestion import PRODUCER_ACTIONS
from tests.conftest import Synthesized
from tests.constructs.scopes import fresh_scope


def _one(synth: Synthesized, stack_id: str, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = {
        logical_id: resource
        for logical_id, resource in synth.resources(stack_id, resource_type).items()
        if not logical_id.startswith("Custom")  # CDK's own provider functions and roles
    }
    assert len(found) == 1, f"{resource_type}: {list(found)}"
    return next(iter(found.items()))


def _ingestion(synth: Synthesized, stack_id: str) -> StreamingIngestion:
    return synth.stack(stack_id).node.find_child("Ingestion")  # type: ignore[return-value]


def _logical_id(synth: Synthesized, stack_id: str, construct: Any) -> str:
    return synth.stack(stack_id).get_logical_id(construct.node.default_child)


def _destination(synth: Synthesized, stack_id: str) -> dict[str, Any]:
    _, delivery = _one(synth, stack_id, "AWS::KinesisFirehose::DeliveryStream")
    return delivery["Properties"]["ExtendedS3DestinationConfiguration"]


# ---------------------------------------------------------------------------------- stream


def test_stream_is_on_demand_encrypted_with_the_lake_key_for_24_hours(project: Synthesized) -> None:
    _, stream = _one(project, "RealTime", "AWS::Kinesis::Stream")
    props = stream["Properties"]
    assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in props
    assert props["RetentionPeriodHours"] == 24
    assert props["StreamEncryption"]["EncryptionType"] == "KMS"
    key_ref = json.dumps(props["StreamEncryption"]["KeyId"])
    assert "LakeKey" in key_ref and "mlbp-dev-data-lake" in key_ref  # the lake stack's key


def test_stream_sized_from_load_is_provisioned(construct_variants: Synthesized) -> None:
    _, stream = _one(construct_variants, "IngestionInStack", "AWS::Kinesis::Stream")
    props = stream["Properties"]
    assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert props["ShardCount"] == 9
    assert props["RetentionPeriodHours"] == 168


# -------------------------------------------------------------------------------- delivery


def test_delivery_reads_the_stream_and_writes_partitioned_prefixes(project: Synthesized) -> None:
    _, delivery = _one(project, "RealTime", "AWS::KinesisFirehose::DeliveryStream")
    props = delivery["Properties"]
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    stream_id, _ = _one(project, "RealTime", "AWS::Kinesis::Stream")
    assert props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {
        "Fn::GetAtt": [stream_id, "Arn"]
    }
    destination = props["ExtendedS3DestinationConfiguration"]
    assert destination["Prefix"] == (
        "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
        "hour=!{timestamp:HH}/"
    )
    assert destination["ErrorOutputPrefix"] == (
        "errors/events/!{firehose:error-output-type}/year=!{timestamp:yyyy}/"
        "month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    )
    assert "LakeRawBucket" in json.dumps(destination["BucketARN"])
    assert destination["S3BackupMode"] == "Disabled"


def test_delivery_buffers_compresses_encrypts_and_logs(project: Synthesized) -> None:
    destination = _destination(project, "RealTime")
    assert destination["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 64}
    assert destination["CompressionFormat"] == "GZIP"
    assert "LakeKey" in json.dumps(destination["EncryptionConfiguration"])
    logging = destination["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    group_id = _logical_id(project, "RealTime", _ingestion(project, "RealTime").log_group)
    assert logging["LogGroupName"] == {"Ref": group_id}
    group = project.template_json("RealTime")["Resources"][group_id]["Properties"]
    assert "LakeKey" in json.dumps(group["KmsKeyId"]) and group["RetentionInDays"] == 365
    assert "DataFormatConversionConfiguration" not in destination


def test_every_record_goes_through_the_transform(project: Synthesized) -> None:
    processing = _destination(project, "RealTime")["ProcessingConfiguration"]
    assert processing["Enabled"] is True
    [processor] = processing["Processors"]
    assert processor["Type"] == "Lambda"
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    function_id, _ = _one(project, "RealTime", "AWS::Lambda::Function")
    assert params["LambdaArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert params["NumberOfRetries"] == "3"


def test_delivery_waits_for_its_role_policy(project: Synthesized) -> None:
    _, delivery = _one(project, "RealTime", "AWS::KinesisFirehose::DeliveryStream")
    role = _ingestion(project, "RealTime").delivery_role
    policy_id = project.stack("RealTime").get_logical_id(role.grants_policy.node.default_child)
    assert policy_id in delivery["DependsOn"]


def test_conversion_to_parquet_uses_the_table_schema(construct_variants: Synthesized) -> None:
    destination = _destination(construct_variants, "IngestionInStack")
    conversion = destination["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["InputFormatConfiguration"] == {"Deserializer": {"OpenXJsonSerDe": {}}}
    assert conversion["OutputFormatConfiguration"] == {
        "Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}
    }
    schema = conversion["SchemaConfiguration"]
    ingestion = _ingestion(construct_variants, "IngestionInStack")
    assert schema["TableName"] == "clicks_web" == ingestion.table_name
    assert schema["VersionId"] == "LATEST"
    assert destination["CompressionFormat"] == "UNCOMPRESSED"  # Parquet compresses inside
    assert destination["BufferingHints"] == {"IntervalInSeconds": 600, "SizeInMBs": 128}
    assert destination["Prefix"].startswith("clicks/web/year=")


# ------------------------------------------------------------------------ least privilege


def _grants(synth: Synthesized, stack_id: str, role: Any) -> list[dict[str, Any]]:
    policy_id = synth.stack(stack_id).get_logical_id(role.grants_policy.node.default_child)
    policy = synth.template_json(stack_id)["Resources"][policy_id]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_delivery_role_is_firehose_of_this_account_only(project: Synthesized) -> None:
    role = _ingestion(project, "RealTime").delivery_role
    role_id = _logical_id(project, "RealTime", role)
    props = project.template_json("RealTime")["Resources"][role_id]["Properties"]
    [trust] = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}
    assert props["RoleName"] == "mlbp-dev-svc-firehose-events"
    assert "Policies" not in props


def test_delivery_role_writes_only_its_prefixes_and_reads_only_its_stream(
    project: Synthesized,
) -> None:
    statements = _grants(project, "RealTime", _ingestion(project, "RealTime").delivery_role)
    by_sid = {s.get("Sid"): s for s in statements}
    writes = by_sid["WriteDeliveryPrefixes"]
    assert sorted(_actions(writes)) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    suffixes = sorted(r["Fn::Join"][1][-1] for r in writes["Resource"])
    assert suffixes == ["/errors/events/*", "/events/*"]
    encrypt = by_sid["EncryptDeliveredObjects"]
    assert sorted(_actions(encrypt)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "kms:ViaService" in encrypt["Condition"]["StringEquals"]
    # S3 Bucket Keys: KMS sees the bucket's ARN as the encryption context.
    context = encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    assert context[0] == by_sid["FindTheBucket"]["Resource"]
    assert sorted(context[1:], key=str) == sorted(writes["Resource"], key=str)
    function_id, _ = _one(project, "RealTime", "AWS::Lambda::Function")
    assert by_sid["InvokeTheTransform"]["Resource"] == {"Fn::GetAtt": [function_id, "Arn"]}
    stream_id, _ = _one(project, "RealTime", "AWS::Kinesis::Stream")
    kinesis = [s for s in statements if any(a.startswith("kinesis:") for a in _actions(s))]
    assert kinesis and all(s["Resource"] == {"Fn::GetAtt": [stream_id, "Arn"]} for s in kinesis)
    assert not any(a.startswith("kinesis:Put") for s in kinesis for a in _actions(s))
    everything = [a for s in statements for a in _actions(s)]
    assert not [a for a in everything if a.endswith(":*") or a == "*"]


def test_the_lake_exempts_the_delivery_role_by_name(project: Synthesized) -> None:
    lake = project.stack("DataLake").lake
    assert lake.exempts_role_name("mlbp-dev-svc-firehose-events")
    policies = project.resources("DataLake", "AWS::S3::BucketPolicy").values()
    raw = next(p for p in policies if "Raw" in json.dumps(p["Properties"]["Bucket"]))
    [restriction] = [
        s
        for s in raw["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "DenyObjectAccessOutsideVpcEndpoint"
    ]
    [pattern] = restriction["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert pattern == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":iam::",
                {"Ref": "AWS::AccountId"},
                ":role/mlbp-dev-svc-*",
            ],
        ]
    }


def test_in_the_lakes_stack_the_delivery_role_is_exempt_by_arn(
    construct_variants: Synthesized,
) -> None:
    role = _ingestion(construct_variants, "IngestionInStack").delivery_role
    role_id = _logical_id(construct_variants, "IngestionInStack", role)
    policies = construct_variants.resources("IngestionInStack", "AWS::S3::BucketPolicy").values()
    raw = next(p for p in policies if "LakeRaw" in json.dumps(p["Properties"]["Bucket"]))
    [restriction] = [
        s
        for s in raw["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "DenyObjectAccessOutsideVpcEndpoint"
    ]
    assert restriction["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [
        {"Fn::GetAtt": [role_id, "Arn"]}
    ]


# ------------------------------------------------------------------------------- transform


def test_transform_function_runs_in_the_vpc_without_egress(project: Synthesized) -> None:
    _, function = _one(project, "RealTime", "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Handler"] == "firehose_transform.handler"
    assert props["MemorySize"] == 256 and props["Timeout"] == 60
    assert props["ReservedConcurrentExecutions"] == 5
    assert props["Environment"]["Variables"]["REQUIRED_FIELDS"] == "event_id,event_type,event_time"
    assert "SubnetIds" in props["VpcConfig"]
    _, group = _one(project, "RealTime", "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in group["Properties"]
    [egress] = group["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"  # CDK's "no egress" placeholder
    assert "LoggingConfig" in props


def test_transform_bundle_holds_the_transform_and_its_contract_only(project: Synthesized) -> None:
    _, function = _one(project, "RealTime", "AWS::Lambda::Function")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    files = sorted(p.name for p in (project.outdir / f"asset.{asset_hash}").iterdir())
    assert files == ["event_contract.py", "firehose_transform.py"]


def test_transform_bundle_runs_on_its_own(project: Synthesized) -> None:
    """The bundle as Lambda runs it: no site-packages, so no ml_blueprints package."""
    _, function = _one(project, "RealTime", "AWS::Lambda::Function")
    bundle = (
        project.outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    )
    data = base64.b64encode(b'{"event_id":"e1","event_type":"T","event_time":1795536309123}')
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import firehose_transform as t; "
        "assert 'ml_blueprints' not in sys.modules, 'the bundle must not need the package'; "
        "event = {'records': [{'recordId': '1', 'data': sys.argv[2]}]}; "
        "print(json.dumps(t.handler(event, None)['records']))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(bundle), data.decode()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [answer] = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["result"] == "Ok"
    assert base64.b64decode(answer["data"]) == (
        b'{"event_id":"e1","event_type":"t","event_time":"2026-11-24T16:05:09.123Z"}\n'
    )


def test_without_a_vpc_or_reservation_the_function_has_neither(
    construct_variants: Synthesized,
) -> None:
    _, function = _one(construct_variants, "IngestionInStack", "AWS::Lambda::Function")
    assert "VpcConfig" not in function["Properties"]
    assert "ReservedConcurrentExecutions" not in function["Properties"]


# --------------------------------------------------------------------------- table, alarms


def test_events_table_uses_partition_projection(project: Synthesized) -> None:
    _, table = _one(project, "RealTime", "AWS::Glue::Table")
    table_input = table["Properties"]["TableInput"]
    assert table["Properties"]["DatabaseName"] == "mlbp_dev_streaming"
    assert table_input["Name"] == "events"
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["year", "month", "day", "hour"]
    params = table_input["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.month.digits"] == "2"
    assert "year=${year}/month=${month}/day=${day}/hour=${hour}/" in json.dumps(
        params["storage.location.template"]
    )
    descriptor = table_input["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [c["Name"] for c in descriptor["Columns"]] == [
        "event_id",
        "event_type",
        "event_time",
        "ingested_at",
    ]


def test_a_named_database_is_created_with_the_table(project: Synthesized) -> None:
    # RealTime names its database and must still create it: nothing else does when the
    # layer is deployed alone (the first deploy failed with EntityNotFoundException).
    _, table = _one(project, "RealTime", "AWS::Glue::Table")
    database_id, database = _one(project, "RealTime", "AWS::Glue::Database")
    assert database["Properties"]["DatabaseInput"]["Name"] == "mlbp_dev_streaming"
    assert table["Properties"]["DatabaseName"] == "mlbp_dev_streaming"
    assert database_id in table["DependsOn"]
    assert "DeletionPolicy" not in database  # catalog metadata: deleted with the stack


def test_an_existing_database_is_used_without_creating_one(lake: SecureDataLake) -> None:
    ingestion = _ingest(lake, glue_database_name="team_lake", create_glue_database=False)
    assert ingestion.database is None
    stack = cdk.Stack.of(lake)
    assert not [c for c in stack.node.find_all() if isinstance(c, glue.CfnDatabase)]
    assert ingestion.table.database_name == "team_lake"
    assert ingestion.database_name == "team_lake"


def test_parquet_table_in_its_own_database(construct_variants: Synthesized) -> None:
    _, table = _one(construct_variants, "IngestionInStack", "AWS::Glue::Table")
    descriptor = table["Properties"]["TableInput"]["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert {"Name": "amount", "Type": "decimal(10,2)"} in descriptor["Columns"]
    database_id, database = _one(construct_variants, "IngestionInStack", "AWS::Glue::Database")
    assert table["Properties"]["DatabaseName"] == database["Properties"]["DatabaseInput"]["Name"]
    assert database_id in table["DependsOn"]


EXPECTED_ALARMS = {
    "IteratorAge": ("GetRecords.IteratorAgeMilliseconds", "GreaterThanThreshold", 600_000),
    "WriteThrottling": ("WriteProvisionedThroughputExceeded", "GreaterThanThreshold", 0),
    "DeliveryFreshness": ("DeliveryToS3.DataFreshness", "GreaterThanThreshold", 900),
    "DeliveryFailures": ("DeliveryToS3.Success", "LessThanThreshold", 1),
    "TransformErrors": ("Errors", "GreaterThanThreshold", 0),
    "RejectedRecords": ("FailedRecords", "GreaterThanThreshold", 0),
}


def test_alarms_watch_lag_throttling_freshness_and_failures(project: Synthesized) -> None:
    alarms = project.resources("RealTime", "AWS::CloudWatch::Alarm")
    found = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert len(alarms) == len(EXPECTED_ALARMS)
    topic_id, _ = _one(project, "RealTime", "AWS::SNS::Topic")
    for metric, comparison, threshold in EXPECTED_ALARMS.values():
        alarm = found[metric]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (comparison, threshold)
        assert alarm["AlarmActions"] == [{"Ref": topic_id}] == alarm["OKActions"]
        assert alarm["TreatMissingData"] == "notBreaching"
    assert found["FailedRecords"]["Namespace"] == "MlBlueprints/FirehoseTransform"


def test_alert_topic_is_encrypted_and_tls_only(construct_variants: Synthesized) -> None:
    _, topic = _one(construct_variants, "IngestionInStack", "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic["Properties"]
    _, policy = _one(construct_variants, "IngestionInStack", "AWS::SNS::TopicPolicy")
    statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    _, subscription = _one(construct_variants, "IngestionInStack", "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"


# ------------------------------------------------------------------------------ validation


@pytest.fixture
def lake() -> SecureDataLake:
    return SecureDataLake(cdk.Stack(cdk.App(), "Validation"), "Lake")


@pytest.fixture(scope="module")
def shared_lake() -> SecureDataLake:
    """Shared by the tests of refused props (see tests/constructs/scopes.py)."""
    return SecureDataLake(cdk.Stack(cdk.App(), "Refused"), "Lake")


def _ingest(lake: SecureDataLake, **props: Any) -> StreamingIngestion:
    return StreamingIngestion(cdk.Stack.of(lake), "Ingestion", lake=lake, **props)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"zone": "gold"}, "zone='gold': one of the lake's zones (raw, curated, analytics)"),
        ({"prefix": "/events"}, "prefix='/events'"),
        ({"prefix": "errors/x"}, "not under 'errors'"),
        ({"prefix": "Events"}, "prefix='Events'"),
        ({"shard_count": 2, "expected_load": StreamLoad(1, 1)}, "one of them at most"),
        ({"shard_count": 0}, "shard_count=0: 1 to 10000 shards"),
        ({"expected_load": StreamLoad(1, 1, consumers=9)}, "enhanced fan-out"),
        ({"retention_hours": 12}, "retention_hours=12: 24 to 8760 hours"),
        ({"retention_hours": 8761}, "retention_hours=8761"),
        ({"buffer_interval_seconds": 901}, "buffer_interval_seconds=901: 0 to 900 seconds"),
        ({"buffer_size_mib": 129}, "buffer_size_mib=129: 1 to 128 MiB"),
        (
            {"record_format": RecordFormat.PARQUET, "buffer_size_mib": 32},
            "buffer_size_mib=32: at least 64 MiB when converting to parquet",
        ),
        (
            {"record_format": RecordFormat.ORC, "compression": Compression.ZIP},
            "compression=<Compression.ZIP: 'ZIP'>: left at its default when converting to orc",
        ),
        ({"columns": []}, "columns=[]: at least one column"),
        ({"columns": [Column("Event", "string")]}, "columns='Event': unique lowercase names"),
        ({"columns": [Column("year", "string")]}, "not a partition key"),
        ({"columns": [Column("a", "string"), Column("a", "int")]}, "columns='a'"),
        ({"columns": [Column("a", "text")]}, "columns['a'].type='text': a Glue type"),
        (
            {"columns": [Column("amount", "decimal(40,2)")]},
            "map<primitive,T> or struct<name:T,...> (decimal precision 40 is not 1 to 38)",
        ),
        (
            {"columns": [Column("tags", "array<strin>")]},
            "struct<name:T,...> ('strin' is not a type)",
        ),
        (
            {"columns": [Column("a", "string", "c" * 256)]},
            "columns['a'].comment='cccc",
        ),
        ({"glue_database_name": "My-DB"}, "glue_database_name='My-DB'"),
        (
            {"create_glue_database": False},
            "create_glue_database=False: True (the default) unless glue_database_name names",
        ),
        ({"table_name": "t-1"}, "table_name='t-1'"),
        ({"required_fields": []}, "required_fields=[]"),
        ({"transform_memory_mib": 64}, "transform_memory_mib=64: 128 to 10240 MiB"),
        ({"transform_timeout_seconds": 301}, "transform_timeout_seconds=301: 1 to 300 seconds"),
        ({"transform_reserved_concurrency": 0}, "transform_reserved_concurrency=0"),
        ({"iterator_age_alarm_seconds": 10}, "iterator_age_alarm_seconds=10: 60 to"),
        (
            {"freshness_alarm_seconds": 300},
            "freshness_alarm_seconds=300: more than buffer_interval_seconds (300)",
        ),
        ({"log_retention_days": 10}, "log_retention_days=10: one of CloudWatch Logs' periods"),
        ({"delivery_role_name": "bad name"}, "delivery_role_name='bad name': an IAM role name"),
    ],
)
def test_invalid_props_are_refused_with_a_clear_error(
    shared_lake: SecureDataLake, props: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError, match=r"^StreamingIngestion: invalid prop") as error:
        StreamingIngestion(fresh_scope(shared_lake), "Ingestion", lake=shared_lake, **props)
    assert expected in str(error.value)


def test_a_lake_in_another_stack_needs_an_exempt_role_name() -> None:
    app = cdk.App()
    lake_stack = cdk.Stack(app, "Lake")
    network = PrivateNetwork(lake_stack, "Network")
    lake = SecureDataLake(lake_stack, "Lake", vpc_endpoint=network.s3_endpoint)
    with pytest.raises(ValueError, match="starting with one of the lake's exempt_role_name_pre"):
        StreamingIngestion(cdk.Stack(app, "Other"), "Ingestion", lake=lake)
    exempting = SecureDataLake(
        lake_stack,
        "Exempting",
        vpc_endpoint=network.s3_endpoint,
        exempt_role_name_prefixes=["acme-svc-"],
    )
    ingestion = StreamingIngestion(cdk.Stack(app, "Another"), "Ingestion", lake=exempting)
    role_name = cdk.Stack.of(ingestion).resolve(
        ingestion.delivery_role.node.default_child.role_name  # type: ignore[union-attr]
    )
    assert role_name.startswith("acme-svc-delivery-")


def test_grant_write_lets_a_producer_put_records_with_exact_actions(lake: SecureDataLake) -> None:
    ingestion = _ingest(lake)
    stack = cdk.Stack.of(lake)
    producer = cdk.aws_iam.Role(
        stack, "Producer", assumed_by=cdk.aws_iam.ServicePrincipal("lambda.amazonaws.com")
    )
    grant = ingestion.grant_write(producer)
    assert grant.success
    stream_arn = stack.resolve(ingestion.stream.stream_arn)
    assert [stack.resolve(s.to_statement_json()) for s in grant.principal_statements] == [
        {
            "Action": list(PRODUCER_ACTIONS),
            "Effect": "Allow",
            "Resource": stream_arn,
        },
        {
            "Action": "kms:GenerateDataKey",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {
                        "Fn::Join": ["", ["kinesis.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
                    },
                    "kms:EncryptionContext:aws:kinesis:arn": stream_arn,
                }
            },
            "Effect": "Allow",
            "Resource": stack.resolve(lake.key.key_arn),
        },
    ]
    assert PRODUCER_ACTIONS == (
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:ListShards",
        "kinesis:DescribeStreamSummary",
    )
    # Into a customer-managed policy attached to the role, not an inline policy.
    policy = producer.node.find_child("MlbpGrantsPolicy")
    assert isinstance(policy, cdk.aws_iam.ManagedPolicy)
    assert producer.node.try_find_child("DefaultPolicy") is None
