"""The deploy scenarios: each runs on its own fresh emulator, in its own thread, and records
what it saw; the tests assert on the records.

They run in parallel (each spends most of its time waiting on its emulator and the CDK CLI)
and start as soon as pytest has collected the tests, while one background process
synthesizes every assembly they need (:data:`ASSEMBLIES`). A step that fails stops its
scenario; the tests that need a later record fail with that step's error.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.harness import ROOT, Emulator, stack_dependencies, stack_names, wait_for
from tests.deploy.readback import (
    account_inventory,
    cloudformation_seconds,
    describe_governance,
    describe_serving,
    event_count,
    resources,
    stacks,
)

#: Every assembly the scenarios deploy, in the order they are synthesized.
ASSEMBLIES: dict[str, dict[str, str]] = {
    "sandbox": {"sandbox": "true"},
    "retained": {"sandbox": "false"},
    "changed": {"sandbox": "true", "log_retention_days": "30", "budget_usd": "75"},
    "opt_in": {
        "sandbox": "true",
        "emr": "true",
        "ml_notebook": "true",
        "ml_endpoint": "true",
        "ml_model_data_url": "s3://mlbp-example-models/job/output/model.tar.gz",
        "warehouse": "true",
        # the ingestion layer's opt-ins, whose types the emulator refuses
        "batch_image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/job:1",
        "dms": "true",
        "dms_source_host": "10.0.0.10",
        "dms_source_database": "shop",
        "dms_source_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf",
        "datasync_agent_arn": "arn:aws:datasync:us-east-1:000000000000:agent/"
        "agent-0123456789abcdef0",
        "datasync_source": "nfs://files.example.internal/exports/data",
    },
}
#: Every default layer, in dependency order: stack id -> its stack name (env_name dev). Each
#: is deployed together with the others, alone (in one of :func:`alone_parts`) and outside
#: sandbox mode; a new layer added here is in every scenario.
LAYERS: dict[str, str] = {
    "DataLake": "mlbp-dev-data-lake",
    "RealTime": "mlbp-dev-real-time",
    "Analytics": "mlbp-dev-analytics",
    "Serving": "mlbp-dev-serving",
    "Ml": "mlbp-dev-ml",
    "Governance": "mlbp-dev-governance",
    "Ingestion": "mlbp-dev-ingestion",
}
#: event_time of the data-path events: one with an offset the transform normalizes to UTC.
DATA_PATH_TIMES = ("2026-11-25T10:00:00+01:00", "2026-11-25T09:30:00Z")
#: Log retention and budget of the "changed" assembly (the defaults: 365 days, 50 USD).
CHANGED_RETENTION_DAYS = 30
CHANGED_BUDGET_USD = 75


#: Into how many scenarios, run in parallel, the layers deployed alone are split.
ALONE_PARTS = 3


def deploy_order(layers: list[str], needs: dict[str, list[str]]) -> list[str]:
    """The order a part deploys its layers in: those that depend on fewer first (the serving
    layer, which needs none, before the data lake)."""
    return sorted(layers, key=lambda layer: len(needs[layer]))


def cli_runs(layers: list[str], needs: dict[str, list[str]], opt_in: bool) -> int:
    """How many CDK CLI runs a part makes (each takes about as long): the bootstrap, each
    dependency not deployed yet, each layer's deploy and destroy, the opt-ins' update of the
    data lake (after deploying it, if no layer needed it)."""
    runs, kept = 1, set()
    for layer in deploy_order(layers, needs):
        runs += len(set(needs[layer]) - kept) + 2
        kept |= set(needs[layer])
    return runs + (1 + ("DataLake" not in kept) if opt_in else 0)


def alone_parts(needs: dict[str, list[str]], count: int = ALONE_PARTS) -> list[list[str]]:
    """Every layer but the data lake (a part deploys it when one of its layers needs it), in
    ``count`` parts that run in parallel, each on its own emulator; the last part also tries
    the opt-ins. Of every split, the one whose longest part makes the fewest CLI runs (then
    the fewest in all): the layers' dependencies (``needs``, from the manifest) decide."""
    layers = [layer for layer in LAYERS if layer != "DataLake"]
    best: tuple[tuple[int, int], list[list[str]]] | None = None
    for assignment in itertools.product(range(count), repeat=len(layers)):
        parts = [
            [x for x, at in zip(layers, assignment, strict=True) if at == i] for i in range(count)
        ]
        if not all(parts) and len(layers) >= count:
            continue
        runs = [cli_runs(part, needs, opt_in=i == count - 1) for i, part in enumerate(parts)]
        if best is None or (max(runs), sum(runs)) < best[0]:
            best = ((max(runs), sum(runs)), parts)
    assert best is not None
    return best[1]


class Scenario(threading.Thread):
    """A sequence of steps against one emulator; ``observed`` holds what each step saw."""

    def __init__(self, name: str, assemblies: Path, synth: subprocess.Popen[str]) -> None:
        super().__init__(name=f"deploy-{name}", daemon=True)
        self.label = name
        self.assemblies = assemblies
        self.synth = synth
        self.observed: dict[str, Any] = {}
        self.error: str | None = None
        self.seconds: float | None = None
        #: When each record was made, in seconds since the scenario started.
        self.timeline: dict[str, float] = {}
        self.started = time.monotonic()
        self.emulator: Emulator | None = None

    def assembly(self, name: str) -> Path:
        return wait_for(self.assemblies / name, self.synth)

    def run(self) -> None:
        started = self.started = time.monotonic()
        emulator = self.emulator = Emulator(self.label, time_limit=600)
        try:
            with emulator:
                self.steps(emulator)
        except BaseException:  # recorded for the tests, which report it
            self.error = traceback.format_exc() + "\nemulator log:\n" + emulator.tail()
        finally:
            self.seconds = time.monotonic() - started
            emulator.remove_workdir()

    def steps(self, emulator: Emulator) -> None:
        raise NotImplementedError

    def record(self, key: str, value: Any) -> Any:
        self.observed[key] = value
        self.timeline[key] = time.monotonic() - self.started
        return value

    def result(self, key: str, timeout: float = 600) -> Any:
        """What ``key``'s step saw; fails with the scenario's error if it never got there."""
        self.join(timeout)
        if key not in self.observed:
            raise AssertionError(
                f"scenario {self.label} did not record {key!r}"
                + (f"; it failed:\n{self.error}" if self.error else " (still running?)")
            )
        return self.observed[key]


def _poll(check: Callable[[], Any], timeout: float = 20, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


# ------------------------------------------------------------------------------ scenarios


class Together(Scenario):
    """Every default layer at once (sandbox): describe what matters, carry events through the
    real transform, run the smoke command, redeploy unchanged, change a prop, destroy all."""

    def steps(self, emulator: Emulator) -> None:
        self.record("bootstrap", emulator.bootstrap().seconds)
        app = self.assembly("sandbox")
        names = stack_names(app)
        self.record("deploy", emulator.deploy(app))
        self.record("stacks", stacks(emulator))
        self.record("resources", {n: resources(emulator, n) for n in names.values()})
        self.record("described", self.describe(emulator, names))
        self.record("ingestion", self.describe_ingestion(emulator, names))
        self.record("data_path", self.data_path(emulator, names))
        self.record("smoke", self.smoke(emulator))
        events = {n: event_count(emulator, n) for n in names.values()}
        self.record("redeploy", emulator.deploy(app))
        self.record("after_redeploy", stacks(emulator))
        self.record(
            "redeploy_events",
            {n: (events[n], event_count(emulator, n)) for n in names.values()},
        )
        self.record("redeploy_resources", {n: resources(emulator, n) for n in names.values()})
        changed = self.assembly("changed")
        self.record("update", emulator.deploy(changed))
        self.record("after_update", stacks(emulator))
        self.record("updated_resources", {n: resources(emulator, n) for n in names.values()})
        self.record("governance_after_update", describe_governance(emulator, names["Governance"]))
        self.record(
            "retention_after_update",
            {
                g["logGroupName"]: g.get("retentionInDays")
                for g in emulator.client("logs").describe_log_groups()["logGroups"]
            },
        )
        self.record("before_destroy", account_inventory(emulator))
        self.record("destroy", emulator.destroy(changed))
        self.record("after_destroy", account_inventory(emulator))
        self.record("stacks_after_destroy", stacks(emulator))

    def describe(self, emulator: Emulator, names: dict[str, str]) -> dict[str, Any]:
        lake = emulator.outputs(names["DataLake"])
        real_time = emulator.outputs(names["RealTime"])
        analytics = emulator.outputs(names["Analytics"])
        ml = emulator.outputs(names["Ml"])
        s3 = emulator.client("s3")
        ec2 = emulator.client("ec2")
        zones = {"raw", "curated", "analytics"}
        policies = {
            zone: json.loads(
                s3.get_bucket_policy(Bucket=lake[f"{zone.capitalize()}BucketName"])["Policy"]
            )
            for zone in zones
        }
        delivery = emulator.client("firehose").describe_delivery_stream(
            DeliveryStreamName=real_time["DeliveryStreamName"]
        )["DeliveryStreamDescription"]
        alarms = emulator.client("cloudwatch").describe_alarms()["MetricAlarms"]
        sfn = emulator.client("stepfunctions")
        glue = emulator.client("glue")
        athena = emulator.client("athena")
        vpc_id = lake["VpcId"]
        default_groups = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
        return {
            "lake": lake,
            "real_time": real_time,
            "analytics": analytics,
            "ml": ml,
            "bucket_policies": policies,
            "stream": emulator.client("kinesis").describe_stream_summary(
                StreamName=real_time["StreamName"]
            )["StreamDescriptionSummary"],
            "delivery_stream": delivery,
            "alarms": alarms,
            "state_machines": {
                arn: sfn.describe_state_machine(stateMachineArn=arn)
                for arn in (analytics["StateMachineArn"], ml["TrainingStateMachineArn"])
            },
            "glue_tables": {
                database: [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]]
                for database in ("mlbp_dev_streaming", analytics["DatabaseName"])
            },
            "crawlers": glue.get_crawlers()["Crawlers"],
            "security_configurations": glue.get_security_configurations()["SecurityConfigurations"],
            "named_queries": [
                athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
                for query_id in athena.list_named_queries(WorkGroup=analytics["WorkGroupName"])[
                    "NamedQueryIds"
                ]
            ],
            "workgroup": athena.get_work_group(WorkGroup=analytics["WorkGroupName"])["WorkGroup"],
            "flow_logs": ec2.describe_flow_logs(
                Filters=[{"Name": "resource-id", "Values": [vpc_id]}]
            )["FlowLogs"],
            "default_security_groups": default_groups,
            "vpc_endpoints": ec2.describe_vpc_endpoints(
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
            )["VpcEndpoints"],
            "governance": describe_governance(emulator, names["Governance"]),
            "serving": describe_serving(emulator, names["Serving"]),
        }

    def describe_ingestion(self, emulator: Emulator, names: dict[str, str]) -> dict[str, Any]:
        """The ingestion layer's devices and export, read back from the emulator."""
        outputs = emulator.outputs(names["Ingestion"])
        iot = emulator.client("iot")
        scheduler = emulator.client("scheduler")
        rules = {
            r["ruleName"]: iot.get_topic_rule(ruleName=r["ruleName"])["rule"]
            for r in iot.list_topic_rules()["rules"]
        }
        machine = emulator.client("stepfunctions").describe_state_machine(
            stateMachineArn=outputs["ExportStateMachineArn"]
        )
        schedules = {
            s["Name"]: scheduler.get_schedule(Name=s["Name"], GroupName=s["GroupName"])
            for s in scheduler.list_schedules()["Schedules"]
        }
        return {
            "outputs": outputs,
            "rules": rules,
            "policy": iot.get_policy(policyName=outputs["DevicePolicyName"]),
            "machine": machine,
            "schedules": schedules,
            "parameters": emulator.client("ssm").describe_parameters()["Parameters"],
        }

    def data_path(self, emulator: Emulator, names: dict[str, str]) -> dict[str, Any]:
        """Events through Kinesis -> Firehose -> the real transform -> the raw zone."""
        outputs = emulator.outputs(names["RealTime"])
        bucket, _, prefix = outputs["RawPrefix"][len("s3://") :].partition("/")
        events = [
            {
                "event_id": "dp-1",
                "event_type": "Page_View",
                "event_time": "2026-11-25T10:00:00+01:00",
            },
            {
                "event_id": "dp-2",
                "event_type": "CLICK",
                "event_time": "2026-11-25T09:30:00Z",
                "x": 1,
            },
        ]
        records = [
            {"Data": json.dumps(e).encode(), "PartitionKey": e["event_id"]} for e in events
        ] + [{"Data": b"not json: dp-bad", "PartitionKey": "dp-bad"}]
        answer = emulator.client("kinesis").put_records(
            StreamName=outputs["StreamName"], Records=records
        )
        s3 = emulator.client("s3")

        def delivered() -> dict[str, bytes]:
            listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            bodies = {
                o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
            }
            return bodies if len(bodies) >= len(events) else {}

        objects = _poll(delivered)
        everything = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        for key in objects:
            s3.delete_object(Bucket=bucket, Key=key)
        return {
            "failed_puts": answer["FailedRecordCount"],
            "prefix": prefix,
            "objects": objects,
            "all_keys": everything,
        }

    def smoke(self, emulator: Emulator) -> subprocess.CompletedProcess[str]:
        """The real ``ml-blueprints smoke`` command, as a user runs it against the emulator."""
        command = [
            str(Path(sys.executable).parent / "ml-blueprints"),
            "smoke",
            "--stack",
            "dev",
            "--region",
            "us-east-1",
            "--endpoint-url",
            emulator.url,
            "--emulator",
            "--records",
            "20",
            "--timeout",
            "30",
            "--poll",
            "0.5",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(emulator.environment())
        del env["AWS_ENDPOINT_URL"]  # the --endpoint-url option is what is tested
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
        )


class Alone(Scenario):
    """Part ``part`` of :func:`alone_parts` (of ``parts``): its layers deployed one at a time
    with ``--exclusively``, each once the layers it depends on (from the assembly's manifest)
    are deployed, and destroyed again before the next: none finds another layer deployed but
    its dependencies, which stay for the next layers (order: :func:`deploy_order`). The last
    part then tries the opt-in layers.

    A deploy is recorded as ``deploy <Layer>`` when exactly the layer's dependencies were
    deployed, else (a dependency of a later layer, deployed over earlier ones) as
    ``deploy <Layer> after <other layers>``: only the first shows that it deploys alone."""

    def __init__(
        self,
        name: str,
        assemblies: Path,
        synth: subprocess.Popen[str],
        *,
        part: int,
        parts: int = ALONE_PARTS,
    ) -> None:
        super().__init__(name, assemblies, synth)
        self.part, self.parts = part, parts

    def steps(self, emulator: Emulator) -> None:
        self.record("bootstrap", emulator.bootstrap().seconds)
        app = self.assembly("sandbox")
        names = stack_names(app)
        needs = stack_dependencies(app)
        layers = self.record("layers", alone_parts(needs, self.parts)[self.part])
        kept: list[str] = []  # dependencies deployed so far
        for layer in deploy_order(layers, needs):
            self.deploy_dependencies(emulator, app, names, needs[layer], kept)
            self.deploy(emulator, app, names, layer, kept, needs[layer])
            emulator.destroy(app, layer, exclusively=True)
            self.record(f"destroy {layer}", {"stacks": stacks(emulator), "kept": list(kept)})
        if self.part == self.parts - 1:
            self.deploy_dependencies(emulator, app, names, ["DataLake"], kept)
            self.opt_in(emulator, names)

    def deploy_dependencies(
        self,
        emulator: Emulator,
        app: Path,
        names: dict[str, str],
        dependencies: list[str],
        kept: list[str],
    ) -> None:
        """Deploy each of ``dependencies`` not deployed yet (they stay: added to ``kept``)."""
        needs = stack_dependencies(app)
        for dependency in dependencies:
            if dependency not in kept:
                self.deploy(emulator, app, names, dependency, kept, needs[dependency])
                kept.append(dependency)

    def deploy(
        self,
        emulator: Emulator,
        app: Path,
        names: dict[str, str],
        layer: str,
        kept: list[str],
        needs: list[str],
    ) -> None:
        run = emulator.deploy(app, layer, exclusively=True)
        name = names[layer]
        created = resources(emulator, name)
        groups = [
            r["physical_id"] for r in created.values() if r["type"] == "AWS::EC2::SecurityGroup"
        ]
        others = sorted(set(kept) - set(needs))
        self.record(
            f"deploy {layer}" + (f" after {', '.join(others)}" if others else ""),
            {
                "cli_seconds": run.seconds,
                "cloudformation_seconds": cloudformation_seconds(emulator, name),
                "dependencies": list(kept),
                "stacks": stacks(emulator),
                "resources": created,
                "security_groups": emulator.client("ec2").describe_security_groups(GroupIds=groups)[
                    "SecurityGroups"
                ]
                if groups
                else [],
            },
        )

    def opt_in(self, emulator: Emulator, names: dict[str, str]) -> None:
        """The data lake updated for every opt-in (their interface endpoints; the warehouse's
        third AZ), then every other stack of that app validated: the emulator refuses the
        templates with a type it has no provisioner for."""
        app = self.assembly("opt_in")
        run = emulator.deploy(app, "DataLake", exclusively=True)
        vpc = emulator.outputs(names["DataLake"])["VpcId"]
        ec2 = emulator.client("ec2")
        in_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
        self.record(
            "opt-in DataLake",
            {
                "cli_seconds": run.seconds,
                "stacks": stacks(emulator),
                "endpoints": ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"],
                "subnets": ec2.describe_subnets(Filters=in_vpc)["Subnets"],
                "resources": resources(emulator, names["DataLake"]),
            },
        )
        cloudformation = emulator.client("cloudformation")
        refused = {}
        for layer in stack_names(app):
            if layer == "DataLake":
                continue
            # Compact JSON: an inline TemplateBody is limited to 51,200 bytes (the CDK CLI
            # uploads a larger template to the bootstrap bucket); the check is about types.
            template = json.loads((app / f"{layer}.template.json").read_text())
            body = json.dumps(template, separators=(",", ":"))
            if len(body) > 51_200:
                # still over: its resources' types, what the emulator refuses, in one that fits
                types = {k: {"Type": r["Type"]} for k, r in template["Resources"].items()}
                body = json.dumps({"Resources": types}, separators=(",", ":"))
            try:
                cloudformation.validate_template(TemplateBody=body)
                refused[layer] = None
            except cloudformation.exceptions.ClientError as error:
                refused[layer] = error.response["Error"]["Message"]
        self.record("opt-in refused", refused)


class AloneParts:
    """The "alone" scenarios, read as one: a record comes from the first that made it."""

    def __init__(self, *scenarios: Scenario) -> None:
        self.scenarios = scenarios

    def result(self, key: str) -> object:
        for scenario in self.scenarios:
            scenario.join(600)
            if key in scenario.observed:
                return scenario.observed[key]
        errors = [s.error for s in self.scenarios if s.error]
        raise AssertionError(f"no scenario recorded {key!r}; failures:\n" + "\n".join(errors))

    @property
    def assemblies(self) -> Path:
        return self.scenarios[0].assemblies


class Retained(Scenario):
    """Outside sandbox mode: deploy, write an object, destroy; the data must still be there,
    and the results table still protected against deletion."""

    def steps(self, emulator: Emulator) -> None:
        self.record("bootstrap", emulator.bootstrap().seconds)
        app = self.assembly("retained")
        names = stack_names(app)
        self.record("deploy", emulator.deploy(app).seconds)
        lake = emulator.outputs(names["DataLake"])
        real_time = emulator.outputs(names["RealTime"])
        self.record("lake", lake)
        self.record("real_time", real_time)
        self.record("governance", describe_governance(emulator, names["Governance"]))
        serving = self.record("serving", describe_serving(emulator, names["Serving"]))
        s3 = emulator.client("s3")
        body = b'{"event_id": "kept", "event_type": "test", "event_time": "2026-11-25T00:00:00Z"}\n'
        key = "events/year=2026/month=11/day=25/hour=00/kept.json"
        s3.put_object(
            Bucket=lake["RawBucketName"],
            Key=key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=lake["LakeKeyArn"],
        )
        self.record("written", {"bucket": lake["RawBucketName"], "key": key, "body": body})
        self.record("before_destroy", account_inventory(emulator))
        self.record("destroy", emulator.destroy(app))
        self.record("stacks_after_destroy", stacks(emulator))
        self.record("after_destroy", account_inventory(emulator))
        self.record(
            "object_after_destroy",
            s3.get_object(Bucket=lake["RawBucketName"], Key=key)["Body"].read(),
        )
        dynamodb = emulator.client("dynamodb")
        table = serving["outputs"]["ResultsTableName"]
        self.record("table_after_destroy", dynamodb.describe_table(TableName=table)["Table"])
        try:
            dynamodb.delete_table(TableName=table)
            self.record("delete_table_after_destroy", None)
        except dynamodb.exceptions.ClientError as error:
            self.record("delete_table_after_destroy", error.response["Error"])
