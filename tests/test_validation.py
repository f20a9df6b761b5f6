"""The validation layer: type errors are prop errors, for every construct, in one report.

A string where a list is expected, a plain string where an enum or a construct is expected,
``None`` for a required value, an unknown keyword: one ``ValueError`` naming the prop, never
an ``AttributeError``, a ``TypeError`` or a jsii serialization error.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

import ml_blueprints.constructs as public
from ml_blueprints.constructs import (
    AlertTopic,
    AuditTrail,
    BatchJob,
    CostBudget,
    DatabaseReplication,
    DataCatalog,
    DeviceIngestion,
    EtlWorkflow,
    FleetType,
    GpuNotebook,
    ManagedPolicyRole,
    MonitoredStateMachine,
    NfsShare,
    OnPremisesSync,
    PrivateNetwork,
    ResultsTable,
    SageMakerEndpoint,
    SecureDataLake,
    SetupFunction,
    SparkCluster,
    SparkEtlJob,
    StateMachineSchedule,
    StreamingIngestion,
    TableExport,
    TrainingPipeline,
    Warehouse,
    ZoneCrawl,
    ZoneLifecycle,
    shards_for,
)
from ml_blueprints.validation import PropErrors, TypedProps, describe, type_problems
from tests.constructs.ingestion.variants import AGENT_ARN, fixture_secret, mysql_source
from tests.constructs.ingestion.variants import IMAGE as BATCH_IMAGE

IMAGE = (
    "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-inference:"
    "2.6.0-transformers4.51.3-gpu-py312-cu124-ubuntu22.04"
)


class World:
    """What the constructs need, built once: a network, a lake, a catalog, a job, alerts."""

    def __init__(self) -> None:
        self.app = cdk.App()
        self.stack = cdk.Stack(self.app, "Types")
        self.network = PrivateNetwork(self.stack, "Network")
        self.lake = SecureDataLake(self.stack, "Lake", vpc_endpoint=self.network.s3_endpoint)
        self.catalog = DataCatalog(
            self.stack,
            "Catalog",
            lake=self.lake,
            database_name="types_db",
            crawls=[ZoneCrawl("raw", "events/"), ZoneCrawl("curated", "events/")],
        )
        self.job = SparkEtlJob(self.stack, "Job", catalog=self.catalog)
        self.alerts = AlertTopic(self.stack, "Alerts")
        self.stream = kinesis.Stream(self.stack, "Stream")
        self.table = dynamodb.TableV2(
            self.stack,
            "Table",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
        )
        self.source = mysql_source(fixture_secret(self.stack))
        self.machine = sfn.StateMachine(
            self.stack,
            "Machine",
            definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(self.stack, "Noop")),
        )
        self.count = 0

    def required(self, cls: type) -> dict[str, Any]:
        network, lake = {"network": self.network}, {"lake": self.lake}
        return {
            AlertTopic: {},
            PrivateNetwork: {},
            SecureDataLake: {},
            StreamingIngestion: lake,
            DataCatalog: {**lake, "database_name": "other_db"},
            SparkEtlJob: {"catalog": self.catalog},
            EtlWorkflow: {
                "raw_crawler": self.catalog.crawlers["raw/events/"],
                "curated_crawler": self.catalog.crawlers["curated/events/"],
                "job": self.job,
                "alerts": self.alerts,
                "key": self.lake.key,
            },
            SparkCluster: {**lake, **network},
            GpuNotebook: {**lake, **network},
            SageMakerEndpoint: {
                **lake,
                **network,
                "image": IMAGE,
                "model_data_url": "s3://acme-models/m/model.tar.gz",
            },
            TrainingPipeline: {**lake, **network, "alerts": self.alerts},
            BatchJob: {**lake, **network, "image": BATCH_IMAGE},
            DatabaseReplication: {**lake, **network, "source": self.source},
            DeviceIngestion: {**lake, "stream": self.stream},
            TableExport: {**lake, "table": self.table},
            OnPremisesSync: {
                **lake,
                "agent_arns": [AGENT_ARN],
                "source": NfsShare(server="nas.corp.example.com", path="/exports"),
            },
            MonitoredStateMachine: {
                "definition": sfn.Pass(self.stack, self.next_id()),
                "description": "a machine",
                "alerts": self.alerts,
                "key": self.lake.key,
                "timeout": cdk.Duration.hours(1),
                "log_retention_days": 365,
                "removal_policy": cdk.RemovalPolicy.RETAIN,
            },
            StateMachineSchedule: {
                "state_machine": self.machine,
                "expression": "rate(1 day)",
                "description": "daily",
                "alerts": self.alerts,
                "removal_policy": cdk.RemovalPolicy.RETAIN,
            },
            CostBudget: {"amount_usd": 100},
            AuditTrail: {},
            ResultsTable: {},
            Warehouse: {**lake, **network, "catalog_database_name": "types_db"},
            SetupFunction: {
                "workgroup_arn": "arn:aws:redshift-serverless:eu-west-1:111122223333:workgroup/w",
                "namespace_arn": "arn:aws:redshift-serverless:eu-west-1:111122223333:namespace/n",
                "namespace_name": "n",
                "admin_username": "warehouse_admin",
                "key": self.lake.key,
                "log_retention_days": 365,
                "removal_policy": cdk.RemovalPolicy.RETAIN,
            },
        }[cls]

    def next_id(self) -> str:
        self.count += 1
        return f"C{self.count}"


_world: World | None = None


def world() -> World:
    global _world
    if _world is None:
        _world = World()
    return _world


TYPED_CONSTRUCTS = [
    BatchJob,
    DatabaseReplication,
    DeviceIngestion,
    MonitoredStateMachine,
    OnPremisesSync,
    StateMachineSchedule,
    TableExport,
    AuditTrail,
    CostBudget,
    ResultsTable,
    SetupFunction,
    Warehouse,
    AlertTopic,
    PrivateNetwork,
    SecureDataLake,
    StreamingIngestion,
    DataCatalog,
    SparkEtlJob,
    EtlWorkflow,
    SparkCluster,
    GpuNotebook,
    SageMakerEndpoint,
    TrainingPipeline,
]


def _accepts(hint: Any, value: Any) -> bool:
    return not type_problems(value, hint, "p")


def _wrong_values(hint: Any) -> list[Any]:
    """Values of the wrong type for ``hint``: a string or a number, and None if not allowed."""
    wrong = [12345] if _accepts(hint, "x") else ["a-plain-string"]
    if not _accepts(hint, None):
        wrong.append(None)
    return wrong


def _cases() -> list[tuple[type, str, Any]]:
    cases = []
    for cls in TYPED_CONSTRUCTS:
        hints = typing.get_type_hints(cls.__init__)
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or name not in hints:
                continue
            for value in _wrong_values(hints[name]):
                cases.append((cls, name, value))
    return cases


@pytest.mark.parametrize(
    ("cls", "prop", "value"),
    _cases(),
    ids=lambda v: v.__name__ if isinstance(v, type) else repr(v)[:20],
)
def test_a_prop_of_the_wrong_type_is_one_value_error_naming_it(
    cls: type, prop: str, value: Any
) -> None:
    w = world()
    props = {**w.required(cls), prop: value}
    with pytest.raises(ValueError) as error:
        cls(w.stack, w.next_id(), **props)
    message = str(error.value)
    # The owner, possibly followed by the construct's path, as each construct names itself.
    assert message.startswith(f"{cls.__name__}"), message
    assert message.split("\n", 1)[0].endswith((": invalid prop:", ": invalid props:")), message
    assert f"  - {prop}={value!r}: " in message, message


def test_every_public_construct_and_grant_checks_its_prop_types() -> None:
    constructs = [
        obj
        for obj in vars(public).values()
        if isinstance(obj, type) and issubclass(obj, Construct) and obj is not ManagedPolicyRole
    ]
    assert set(constructs) == set(TYPED_CONSTRUCTS)
    for cls in constructs:
        assert getattr(cls.__init__, "__typed_props__", False), cls
        for name, member in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            if len(inspect.signature(member).parameters) > 1:  # takes more than self
                assert getattr(member, "__typed_props__", False), f"{cls.__name__}.{name}"
    assert getattr(shards_for, "__typed_props__", False)


def test_every_public_option_group_checks_its_field_types() -> None:
    groups = [
        obj
        for obj in vars(public).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ != "builtins"
    ]
    assert {g.__name__ for g in groups} >= {
        "ZoneLifecycle",
        "Column",
        "StreamLoad",
        "ZoneCrawl",
        "NamedQuery",
        "FleetType",
        "SparkStep",
    }
    for group in groups:
        if group.__name__ in ("AcceleratedInstance", "RunRecordTasks"):
            continue  # results the library returns, not props
        assert issubclass(group, TypedProps), group


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            lambda w: StreamingIngestion(w.stack, w.next_id(), lake=w.lake, required_fields="id"),
            "required_fields='id': a list of strings, not a single string (e.g. ['id'])",
        ),
        (
            lambda w: PrivateNetwork(w.stack, w.next_id(), interface_endpoints="kms"),
            "interface_endpoints='kms': a list of strings, not a single string (e.g. ['kms'])",
        ),
        (
            lambda w: StreamingIngestion(w.stack, w.next_id(), lake=w.lake, record_format="orc"),
            "record_format='orc': one of RecordFormat.JSON, RecordFormat.PARQUET, RecordFormat.ORC",
        ),
        (
            lambda w: SecureDataLake(w.stack, w.next_id(), vpc_endpoint="vpce-0123"),
            "vpc_endpoint='vpce-0123': an aws_ec2.IVpcEndpoint (a construct, or one imported "
            "with from_...), or None",
        ),
        (
            lambda w: StreamingIngestion(w.stack, w.next_id(), lake="raw"),
            "lake='raw': a SecureDataLake",
        ),
        (lambda w: DataCatalog(w.stack, w.next_id(), lake=w.lake), "database_name: required"),
        (
            lambda w: SecureDataLake(w.stack, w.next_id(), zone_names=["raw"]),
            "zone_names=['raw']: not a prop of this construct (did you mean 'zones'?",
        ),
        (
            lambda w: SparkCluster(
                w.stack, w.next_id(), lake=w.lake, network=w.network, task_types=[("m5.xlarge", 1)]
            ),
            "task_types[0]=('m5.xlarge', 1): a FleetType",
        ),
        (
            lambda w: SecureDataLake(w.stack, w.next_id(), lifecycle={"raw": {"expire": 3}}),
            "lifecycle['raw']={'expire': 3}: a ZoneLifecycle",
        ),
        (lambda w: FleetType("m7i.xlarge", "2"), "weighted_capacity='2': a whole number"),
        (
            lambda w: ZoneLifecycle(glacier_after_days=90.5),
            "glacier_after_days=90.5: a whole number, or None",
        ),
        (lambda w: shards_for("1 MB/s"), "load='1 MB/s': a StreamLoad"),
        (
            lambda w: w.lake.grant_read("raw", "arn:aws:iam::111122223333:role/reader"),
            "grantee='arn:aws:iam::111122223333:role/reader': an aws_iam.IGrantable",
        ),
        (lambda w: AlertTopic(w.stack, 7), "id=7: a string"),
        (
            lambda w: w.alerts.notify_on("HighErrors"),
            "alarms[0]='HighErrors': an aws_cloudwatch.Alarm",
        ),
        (lambda w: w.alerts.notify_task(w.stack, 7), "subject=7: a string"),
        (
            lambda w: w.lake.admit_outside_role("arn:aws:iam::111122223333:role/r"),
            "role='arn:aws:iam::111122223333:role/r': an aws_iam.IRole",
        ),
        (lambda w: w.lake.exempts_role_name(7), "role_name=7: a string"),
        (
            lambda w: w.lake.outside_role_name(w.stack, "reads", 5, owner="Job"),
            "role_name=5: a string, or None",
        ),
        # The check comes before the method's body: a stand-in for the construct will do.
        (lambda w: BatchJob.submit_task(object(), w.stack, 3), "id=3: a string"),
        (
            lambda w: Warehouse.allow_from(object(), "10.0.0.0/16", "clients"),
            "peer='10.0.0.0/16': an aws_ec2.IPeer",
        ),
        (
            lambda w: SetupFunction.resource(object(), w.stack, "Grant", "Custom::Grant", ["x"]),
            "properties=['x']: ",
        ),
    ],
)
def test_the_examples_of_type_errors(build: Callable[[World], Any], expected: str) -> None:
    with pytest.raises(ValueError) as error:
        build(world())
    assert expected in str(error.value)


def test_type_and_value_problems_are_reported_together() -> None:
    w = world()
    with pytest.raises(ValueError) as error:
        StreamingIngestion(
            w.stack,
            w.next_id(),
            lake=w.lake,
            record_format="parquet",  # a type problem
            buffer_size_mib=0,  # a value problem of another prop
            retention_hours=10,  # and another
        )
    assert str(error.value) == (
        "StreamingIngestion: invalid props:\n"
        "  - record_format='parquet': one of RecordFormat.JSON, RecordFormat.PARQUET, "
        "RecordFormat.ORC\n"
        "  - retention_hours=10: 24 to 8760 hours (1 to 365 days)\n"
        "  - buffer_size_mib=0: 1 to 128 MiB"
    )


def test_imported_resources_and_tokens_are_accepted() -> None:
    w = world()
    stack = cdk.Stack(w.app, "Imports")
    key = kms.Key.from_key_arn(stack, "Key", "arn:aws:kms:eu-west-1:111122223333:key/1")
    endpoint = ec2.GatewayVpcEndpoint.from_gateway_vpc_endpoint_id(stack, "E", "vpce-0abc")
    lake = SecureDataLake(
        stack, "Lake", encryption_key=key, vpc_endpoint=endpoint, bucket_name_prefix=stack.account
    )
    role = iam.Role.from_role_arn(stack, "Role", "arn:aws:iam::111122223333:role/reader")
    assert lake.grant_read("raw", role).success
    assert not type_problems(cdk.Token.as_number(stack.account), int, "n")
    assert not type_problems(["a", stack.region], typing.Sequence[str], "l")


def test_a_collector_adopts_the_type_problems_of_its_owner_only() -> None:
    errors = PropErrors("Other")
    assert errors.problems == []
    assert describe(typing.Sequence[FleetType]) == "a list of FleetTypes"
    assert describe(typing.Mapping[str, ZoneLifecycle] | None) == (
        "a mapping of strings to ZoneLifecycles, or None"
    )


def test_a_managed_policy_role_reports_a_bad_role_prop_as_a_value_error() -> None:
    w = world()
    with pytest.raises(ValueError, match=r"^ManagedPolicyRole: invalid prop:\n  - .*assumed_by"):
        ManagedPolicyRole(w.stack, w.next_id(), assumed_by="lambda.amazonaws.com")
