"""Every validation rule of the ingestion constructs and the Ingestion stack's context keys:
one ``ValueError`` naming the construct, the prop, the value and what is allowed."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_secretsmanager as secretsmanager

from ml_blueprints.config import settings_from_context
from ml_blueprints.constructs import (
    BatchJob,
    DatabaseReplication,
    DeviceIngestion,
    MySqlSource,
    NfsShare,
    OnPremisesSync,
    PrivateNetwork,
    SecureDataLake,
    SmbShare,
    TableExport,
)
from ml_blueprints.constructs.ingestion.common import valid_prefix, valid_schedule
from tests.conftest import INGESTION_OPT_INS

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/scorer:1.0"
AGENT = "arn:aws:datasync:eu-west-1:123456789012:agent/agent-0123456789abcdef0"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
_ids = itertools.count()


class World:
    """One stack with what the constructs need, built once for the module."""

    def __init__(self) -> None:
        self.app = cdk.App()
        self.stack = cdk.Stack(self.app, "Validation")
        self.network = PrivateNetwork(self.stack, "Network")
        self.lake = SecureDataLake(self.stack, "Lake", vpc_endpoint=self.network.s3_endpoint)
        self.stream = kinesis.Stream(self.stack, "Stream")
        self.secret = secretsmanager.Secret.from_secret_complete_arn(self.stack, "Secret", SECRET)
        key = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
        self.table = dynamodb.TableV2(
            self.stack,
            "Table",
            partition_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
        )
        self.table_without_recovery = dynamodb.Table(self.stack, "Plain", partition_key=key)

    def source(self, **overrides: Any) -> MySqlSource:
        props: dict[str, Any] = {"host": "db.internal", "database": "shop", "secret": self.secret}
        return MySqlSource(**{**props, **overrides})


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _make(world: World, kind: str, props: dict[str, Any]) -> Any:
    scope, id_ = world.stack, f"{kind}{next(_ids)}"
    if kind == "DeviceIngestion":
        return DeviceIngestion(scope, id_, **{"stream": world.stream, "lake": world.lake, **props})
    if kind == "TableExport":
        return TableExport(scope, id_, **{"table": world.table, "lake": world.lake, **props})
    if kind == "BatchJob":
        base = {"image": IMAGE, "lake": world.lake, "network": world.network}
        return BatchJob(scope, id_, **{**base, **props})
    if kind == "DatabaseReplication":
        base = {"source": world.source(), "lake": world.lake, "network": world.network}
        return DatabaseReplication(scope, id_, **{**base, **props})
    if kind == "OnPremisesSync":
        base = {"agent_arns": [AGENT], "source": NfsShare("nas.local", "/data"), "lake": world.lake}
        return OnPremisesSync(scope, id_, **{**base, **props})
    raise AssertionError(kind)


#: (construct, props: dict or a function of the world, the text expected in the error)
CASES: list[tuple[str, Any, str]] = [
    ("DeviceIngestion", {"zone": "gold"}, "zone='gold': one of the lake's zones (raw, curated"),
    ("DeviceIngestion", {"error_prefix": "errors/x"}, "error_prefix='errors/x': lowercase"),
    ("DeviceIngestion", {"topic_root": "devices/#"}, "topic_root='devices/#': MQTT topic levels"),
    ("DeviceIngestion", {"topic_root": "$aws/things"}, "topic_root='$aws/things'"),
    ("DeviceIngestion", {"topic_leaf": "a//b"}, "topic_leaf='a//b'"),
    ("DeviceIngestion", {"event_type": "Telemetry"}, "event_type='Telemetry': 1-64 characters"),
    ("DeviceIngestion", {"rule_name": "my-rule"}, "rule_name='my-rule': 1-119 letters"),
    ("TableExport", {"zone": "gold"}, "zone='gold'"),
    ("TableExport", {"prefix": "/exports"}, "prefix='/exports': lowercase"),
    (
        "TableExport",
        lambda w: {"table": w.table_without_recovery},
        "table='Validation/Plain': a table with point-in-time recovery enabled",
    ),
    ("TableExport", {"schedule": "rate(30 minutes)"}, "schedule='rate(30 minutes)': an Event"),
    ("TableExport", {"schedule": "rate(1 hours)"}, "schedule='rate(1 hours)'"),
    ("TableExport", {"schedule": "daily"}, "schedule='daily'"),
    ("TableExport", {"export_format": "CSV"}, "export_format='CSV': one of DYNAMODB_JSON, ION"),
    ("TableExport", {"view_type": "KEYS_ONLY"}, "view_type='KEYS_ONLY'"),
    ("TableExport", {"poll_seconds": 5}, "poll_seconds=5: 30 to 3600 seconds"),
    ("TableExport", {"timeout_hours": 72}, "timeout_hours=72: 1 to 48 hours"),
    ("TableExport", {"log_retention_days": 42}, "log_retention_days=42: one of CloudWatch"),
    ("BatchJob", {"image": "docker.io/library/python:3.12"}, "image='docker.io/library/python"),
    ("BatchJob", {"image": IMAGE.split(":")[0] + ":"}, "a private ECR image URI with a tag"),
    ("BatchJob", {"zone": "gold"}, "zone='gold'"),
    ("BatchJob", {"prefix": "errors/jobs"}, "prefix='errors/jobs'"),
    ("BatchJob", {"command": "python run.py"}, "command='python run.py': a list of strings"),
    ("BatchJob", {"environment": {"1BAD": "x"}}, "environment='1BAD': variable names"),
    ("BatchJob", {"environment": {"LAKE_BUCKET": "x"}}, "environment='LAKE_BUCKET'"),
    ("BatchJob", {"vcpus": 3}, "vcpus=3: one of Fargate's sizes: 0.25, 0.5, 1, 2, 4, 8, 16"),
    ("BatchJob", {"memory_mib": 1000}, "memory_mib=1000: with 1 vCPU, one of Fargate's sizes"),
    ("BatchJob", {"max_vcpus": 0}, "max_vcpus=0: a whole number from vcpus (1) to 4096"),
    ("BatchJob", {"user": "0"}, "user='0': a numeric uid (or uid:gid) other than 0"),
    ("BatchJob", {"user": "root"}, "user='root'"),
    ("BatchJob", {"ephemeral_storage_gib": 10}, "ephemeral_storage_gib=10: 21 to 200 GiB"),
    ("BatchJob", {"attempts": 0}, "attempts=0: 1 to 10"),
    ("BatchJob", {"timeout_minutes": 0}, "timeout_minutes=0"),
    ("BatchJob", {"schedule": "every day"}, "schedule='every day'"),
    ("BatchJob", {"job_name": "-job"}, "job_name='-job'"),
    ("BatchJob", {"log_retention_days": 0}, "log_retention_days=0"),
    ("DatabaseReplication", {"source": "mysql://db"}, "source='mysql://db': a MySqlSource"),
    ("DatabaseReplication", lambda w: {"source": w.source(host="db..internal")}, "source.host="),
    ("DatabaseReplication", lambda w: {"source": w.source(port=70000)}, "source.port=70000"),
    ("DatabaseReplication", lambda w: {"source": w.source(database="my-db")}, "source.database="),
    ("DatabaseReplication", lambda w: {"source": w.source(tables=())}, "source.tables=()"),
    ("DatabaseReplication", lambda w: {"source": w.source(tables=("a b",))}, "source.tables="),
    (
        "DatabaseReplication",
        lambda w: {"source": w.source(ssl_mode="none")},
        "source.ssl_mode='none': one of require, verify-ca, verify-full: the connection is",
    ),
    (
        "DatabaseReplication",
        lambda w: {"source": w.source(ssl_mode="verify-full")},
        "source.certificate_arn=None: the ARN of a CA certificate imported into DMS",
    ),
    (
        "DatabaseReplication",
        lambda w: {
            "source": w.source(certificate_arn="arn:aws:dms:eu-west-1:123456789012:cert:ABC")
        },
        "given with ssl_mode verify-ca or verify-full only",
    ),
    (
        "DatabaseReplication",
        lambda w: {"source": w.source(peer_cidr="10.1.0.1/16")},
        "source.peer_cidr='10.1.0.1/16': an IPv4 CIDR block",
    ),
    ("DatabaseReplication", {"zone": "gold"}, "zone='gold'"),
    ("DatabaseReplication", {"prefix": "db/"}, "prefix='db/'"),
    ("DatabaseReplication", {"max_capacity_units": 3}, "max_capacity_units=3: one of DMS"),
    (
        "DatabaseReplication",
        {"min_capacity_units": 8, "max_capacity_units": 4},
        "min_capacity_units=8: at most max_capacity_units (4)",
    ),
    ("DatabaseReplication", {"timestamp_column": "TS"}, "timestamp_column='TS'"),
    ("DatabaseReplication", {"latency_alarm_seconds": 10}, "latency_alarm_seconds=10"),
    ("DatabaseReplication", {"replication_id": "a--b"}, "replication_id='a--b'"),
    ("DatabaseReplication", {"log_retention_days": 2}, "log_retention_days=2"),
    ("OnPremisesSync", {"agent_arns": []}, "agent_arns=[]: 1 to 4 ARNs of activated DataSync"),
    ("OnPremisesSync", {"agent_arns": ["agent-1"]}, "agent_arns=['agent-1']"),
    (
        "OnPremisesSync",
        {"source": "nfs://nas/data"},
        "source='nfs://nas/data': a NfsShare or a SmbShare",
    ),
    ("OnPremisesSync", {"source": NfsShare("nas_1", "/data")}, "source.server='nas_1'"),
    ("OnPremisesSync", {"source": NfsShare("nas", "data")}, "source.path='data': an absolute"),
    ("OnPremisesSync", {"source": NfsShare("nas", "/a/../b")}, "source.path='/a/../b'"),
    ("OnPremisesSync", {"source": NfsShare("nas", "/d", "NFS5")}, "source.version='NFS5'"),
    (
        "OnPremisesSync",
        lambda w: {"source": SmbShare("fs", "/share", "a:b", w.secret)},
        "source.user='a:b'",
    ),
    (
        "OnPremisesSync",
        lambda w: {"source": SmbShare("fs", "/share", "u", w.secret, domain="-x")},
        "source.domain='-x'",
    ),
    (
        "OnPremisesSync",
        lambda w: {"source": SmbShare("fs", "/share", "u", w.secret, version="SMB1")},
        "source.version='SMB1': one of SMB3, SMB2, AUTOMATIC",
    ),
    ("OnPremisesSync", {"zone": "gold"}, "zone='gold'"),
    ("OnPremisesSync", {"prefix": "a//b"}, "prefix='a//b'"),
    ("OnPremisesSync", {"schedule": "rate(30 minutes)"}, "at least an hour apart"),
    ("OnPremisesSync", {"verify_mode": "NONE"}, "verify_mode='NONE': one of ONLY_FILES"),
    ("OnPremisesSync", {"bandwidth_mbps": 0}, "bandwidth_mbps=0: 1 to 10000 megabits"),
    ("OnPremisesSync", {"excludes": ["a|b"]}, "excludes=['a|b']"),
    ("OnPremisesSync", {"excludes": "*.tmp"}, "excludes='*.tmp'"),
    ("OnPremisesSync", {"task_name": "x" * 300}, "task_name="),
    ("OnPremisesSync", {"log_retention_days": 8}, "log_retention_days=8"),
]


@pytest.mark.parametrize(
    ("kind", "props", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_bad_prop_is_named_with_its_value_and_what_is_allowed(
    world: World,
    kind: str,
    props: dict[str, Any] | Callable[[World], dict[str, Any]],
    expected: str,
) -> None:
    given = props(world) if callable(props) else props
    with pytest.raises(
        ValueError, match=rf"^{kind} Validation/{kind}\d+: invalid props?:\n"
    ) as error:
        _make(world, kind, given)
    assert expected in str(error.value)


def test_several_bad_props_are_reported_together(world: World) -> None:
    with pytest.raises(ValueError) as error:
        _make(world, "BatchJob", {"vcpus": 3, "user": "0", "attempts": 99})
    message = str(error.value)
    assert "invalid props:" in message
    assert message.count("\n  - ") == 3


def test_a_table_in_another_stack_needs_the_lakes_exempt_role_prefix() -> None:
    app = cdk.App()
    lake_stack = cdk.Stack(app, "Lake")
    network = PrivateNetwork(lake_stack, "Network")
    lake = SecureDataLake(
        lake_stack, "Lake", vpc_endpoint=network.s3_endpoint, exempt_role_name_prefixes=["svc-"]
    )
    stack = cdk.Stack(app, "Other")
    table = dynamodb.TableV2(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    with pytest.raises(ValueError, match="export_role_name='other-export': a name starting with"):
        TableExport(stack, "Export", table=table, lake=lake, role_name="other-export")
    TableExport(stack, "Named", table=table, lake=lake)  # a name is made from the prefix


def test_a_batch_job_in_another_stack_needs_the_lakes_exempt_role_prefix() -> None:
    """Step Functions writes the job's error records from outside the VPC: its role must be
    one the lake's endpoint restriction exempts."""
    app = cdk.App()
    lake_stack = cdk.Stack(app, "Lake")
    network = PrivateNetwork(lake_stack, "Network")
    lake = SecureDataLake(
        lake_stack, "Lake", vpc_endpoint=network.s3_endpoint, exempt_role_name_prefixes=["svc-"]
    )
    stack = cdk.Stack(app, "Other")
    with pytest.raises(ValueError, match="batch_role_name='other-batch': a name starting with"):
        BatchJob(stack, "Job", image=IMAGE, lake=lake, network=network, role_name="other-batch")
    named = BatchJob(stack, "Named", image=IMAGE, lake=lake, network=network)
    role = named.role.node.default_child
    assert isinstance(role, cdk.CfnResource)
    assert stack.resolve(role.role_name).startswith("svc-batch-")  # type: ignore[attr-defined]
    bare = SecureDataLake(cdk.Stack(app, "Bare"), "Lake", vpc_endpoint=network.s3_endpoint)
    with pytest.raises(ValueError, match="batch_role_name=None: a name starting with"):
        BatchJob(cdk.Stack(app, "Third"), "Job", image=IMAGE, lake=bare, network=network)


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("rate(1 hour)", True),
        ("rate(2 hours)", True),
        ("rate(1 day)", True),
        ("cron(0 3 * * ? *)", True),
        ("rate(1 hours)", False),
        ("rate(2 hour)", False),
        ("rate(0 days)", False),
        ("rate(30 minutes)", False),
        ("cron(0 3 * * * *)", False),
        ("at(2026-11-24T10:00:00)", False),
        (None, False),
    ],
)
def test_schedules_at_least_an_hour_apart(expression: Any, ok: bool) -> None:
    assert valid_schedule(expression, min_minutes=60) is ok


def test_prefixes() -> None:
    assert valid_prefix("exports/results") and valid_prefix("a")
    for bad in ("", "/a", "a/", "a//b", "errors", "errors/x", "A", "a b", None):
        assert not valid_prefix(bad), bad


# ------------------------------------------------------------------- the context keys


def _settings(**context: str) -> Any:
    return settings_from_context(cdk.App(context=context).node)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"dms": "true"}, "dms=True: false unless dms_source_host, dms_source_database, "),
        (
            {"dms": "yes", "dms_source_host": "db", "dms_source_database": "shop"},
            "dms_source_secret_arn is given too",
        ),
        ({"dms": "maybe"}, "dms='maybe': a boolean"),
        ({"dms_source_port": "70000"}, "dms_source_port='70000': 1 to 65535"),
        ({"dms_source_port": "x"}, "dms_source_port='x'"),
        ({"dms_source_secret_arn": "shop/dms"}, "dms_source_secret_arn='shop/dms': a Secrets"),
        ({"dms_source_host": ""}, "dms_source_host='': a non-empty string"),
        ({"dms_source_host": " "}, "dms_source_host=' ': no leading or trailing whitespace"),
        ({"dms_service_roles": "nope"}, "dms_service_roles='nope'"),
        ({"batch_image": ""}, "batch_image='': a non-empty string"),
        ({"datasync_agent_arn": "agent-1"}, "datasync_agent_arn='agent-1': an activated"),
        ({"datasync_agent_arn": AGENT}, f"datasync_agent_arn='{AGENT}': given with datasync"),
        ({"datasync_source": "ftp://files/x"}, "datasync_source='ftp://files/x': nfs://"),
        (
            {"datasync_agent_arn": AGENT, "datasync_source": "smb://fs/share"},
            "an smb:// source needs datasync_smb_user and datasync_smb_secret_arn too",
        ),
    ],
)
def test_bad_context_is_one_error_naming_the_key(context: dict[str, str], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^CDK context: invalid props?:") as error:
        _settings(**context)
    assert expected in str(error.value)


def test_the_opt_ins_are_read_from_context() -> None:
    settings = _settings(**INGESTION_OPT_INS, dms_source_port="3307", dms_service_roles="false")
    assert settings.dms is True and settings.dms_source_port == 3307
    assert settings.dms_service_roles is False
    assert settings.dms_source_cidr == "10.1.0.0/16"
    assert settings.batch_image == INGESTION_OPT_INS["batch_image"]
    assert settings.datasync_source == "smb://files.corp.example.com/share/sensors"
    defaults = _settings()
    assert (defaults.dms, defaults.batch_image, defaults.datasync_agent_arn) == (False, None, None)
    assert defaults.dms_service_roles is True and defaults.dms_source_port == 3306


def test_the_shared_state_machine_pieces_validate_too(world: World) -> None:
    from aws_cdk import aws_stepfunctions as sfn

    from ml_blueprints.constructs import AlertTopic, MonitoredStateMachine, StateMachineSchedule

    alerts = AlertTopic(world.stack, "SharedAlerts")
    with pytest.raises(ValueError, match=re.escape("expression='rate(5 minute)': an Event")):
        StateMachineSchedule(
            world.stack,
            "BadSchedule",
            state_machine=sfn.StateMachine.from_state_machine_name(world.stack, "Sm", "sm"),
            expression="rate(5 minute)",
            description="x",
            alerts=alerts,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
    with pytest.raises(ValueError) as error:
        MonitoredStateMachine(
            world.stack,
            "BadMachine",
            definition=sfn.Pass(world.stack, "Nothing"),
            description="x",
            alerts=alerts,
            key=world.lake.key,
            timeout=cdk.Duration.seconds(10),
            log_retention_days=42,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
    assert "log_retention_days=42" in str(error.value)
    assert "timeout=" in str(error.value) and "1 minute to 1 year" in str(error.value)
