"""The deploy scenarios: each runs on its own fresh emulator, in its own thread, and records
what it saw; the tests assert on the records.

They run in parallel (each spends most of its time waiting on its emulator and the CDK CLI)
and start as soon as pytest has collected the tests, while one background process
synthesizes every assembly they need (:data:`ASSEMBLIES`). A step that fails stops its
scenario; the tests that need a later record fail with that step's error.
"""

from __future__ import annotations

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

from emulator.harness import ROOT, Emulator, stack_names, wait_for

#: Every assembly the scenarios deploy, in the order they are synthesized.
#: The emulator has no AWS Budgets or CloudTrail: the governance layer (on by default) is
#: left out of what is deployed and checked as refused instead (see test_deploy_alone).
ASSEMBLIES: dict[str, dict[str, str]] = {
    "sandbox": {"sandbox": "true", "governance": "false"},
    "retained": {"sandbox": "false", "governance": "false"},
    "retention": {"sandbox": "true", "governance": "false", "log_retention_days": "30"},
    "opt_in": {
        "sandbox": "true",
        "emr": "true",
        "ml_notebook": "true",
        "ml_endpoint": "true",
        "ml_model_data_url": "s3://mlbp-example-models/job/output/model.tar.gz",
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
LAYERS = ("DataLake", "RealTime", "Analytics", "Ml")  # dependency order
#: event_time of the data-path events: one with an offset the transform normalizes to UTC.
DATA_PATH_TIMES = ("2026-11-25T10:00:00+01:00", "2026-11-25T09:30:00Z")
#: Log retention of the "retention" assembly (the default is 365 days).
CHANGED_RETENTION_DAYS = 30


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
        self.emulator: Emulator | None = None

    def assembly(self, name: str) -> Path:
        return wait_for(self.assemblies / name, self.synth)

    def run(self) -> None:
        started = time.monotonic()
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


# ------------------------------------------------------------------------------ snapshots


def stacks(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Every stack that is not deleted, by name: status and update time."""
    answer = emulator.client("cloudformation").describe_stacks()["Stacks"]
    return {
        s["StackName"]: {
            "status": s["StackStatus"],
            "updated": str(s.get("LastUpdatedTime", "")),
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])},
        }
        for s in answer
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def resources(emulator: Emulator, stack_name: str) -> dict[str, dict[str, str]]:
    """A stack's resources: logical id -> type, physical id and status."""
    cloudformation = emulator.client("cloudformation")
    found: dict[str, dict[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for r in page["StackResourceSummaries"]:
            found[r["LogicalResourceId"]] = {
                "type": r["ResourceType"],
                "physical_id": r.get("PhysicalResourceId", ""),
                "status": r["ResourceStatus"],
            }
    return found


def event_count(emulator: Emulator, stack_name: str) -> int:
    events = emulator.client("cloudformation").describe_stack_events(StackName=stack_name)
    return len(events["StackEvents"])


def cloudformation_seconds(emulator: Emulator, stack_name: str) -> float:
    """From the stack's first event to its last: CloudFormation's side of a deploy."""
    events = emulator.client("cloudformation").describe_stack_events(StackName=stack_name)
    times = [e["Timestamp"] for e in events["StackEvents"]]
    return (max(times) - min(times)).total_seconds() if times else 0.0


def account_inventory(emulator: Emulator) -> dict[str, Any]:
    """What exists in the account, by kind: what "destroy leaves nothing" is checked on."""
    s3 = emulator.client("s3")
    kms = emulator.client("kms")
    keys = {}
    for key in kms.list_keys()["Keys"]:
        metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if metadata.get("KeyManager") == "CUSTOMER":
            keys[metadata["Arn"]] = metadata["KeyState"]
    return {
        "buckets": sorted(b["Name"] for b in s3.list_buckets().get("Buckets", [])),
        "streams": sorted(emulator.client("kinesis").list_streams()["StreamNames"]),
        "delivery_streams": sorted(
            emulator.client("firehose").list_delivery_streams()["DeliveryStreamNames"]
        ),
        "log_groups": sorted(
            g["logGroupName"]
            for g in emulator.client("logs").describe_log_groups().get("logGroups", [])
        ),
        "functions": sorted(
            f["FunctionName"]
            for f in emulator.client("lambda").list_functions().get("Functions", [])
        ),
        "state_machines": sorted(
            m["name"]
            for m in emulator.client("stepfunctions").list_state_machines()["stateMachines"]
        ),
        "glue_databases": sorted(
            d["Name"] for d in emulator.client("glue").get_databases()["DatabaseList"]
        ),
        "keys": keys,
        "vpcs": sorted(
            v["VpcId"]
            for v in emulator.client("ec2").describe_vpcs()["Vpcs"]
            if not v.get("IsDefault")
        ),
        "topic_rules": sorted(
            r["ruleName"] for r in emulator.client("iot").list_topic_rules().get("rules", [])
        ),
        "iot_policies": sorted(
            p["policyName"] for p in emulator.client("iot").list_policies().get("policies", [])
        ),
        "schedules": sorted(
            s["Name"] for s in emulator.client("scheduler").list_schedules().get("Schedules", [])
        ),
        "parameters": sorted(
            p["Name"] for p in emulator.client("ssm").describe_parameters().get("Parameters", [])
        ),
    }


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
        changed = self.assembly("retention")
        self.record("update", emulator.deploy(changed))
        self.record("after_update", stacks(emulator))
        self.record("updated_resources", {n: resources(emulator, n) for n in names.values()})
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
    """Layers deployed one at a time over the data lake, in dependency order, each destroyed
    again before the next (so none finds another layer deployed); then, when ``opt_in``, the
    opt-in layers."""

    def __init__(
        self,
        name: str,
        assemblies: Path,
        synth: subprocess.Popen[str],
        *,
        layers: tuple[str, ...],
        opt_in: bool = False,
    ) -> None:
        super().__init__(name, assemblies, synth)
        self.layers = layers
        self.with_opt_in = opt_in

    def steps(self, emulator: Emulator) -> None:
        emulator.bootstrap()
        app = self.assembly("sandbox")
        names = stack_names(app)
        for layer in ("DataLake", *self.layers):
            run = emulator.deploy(app, layer, exclusively=True)
            name = names[layer]
            created = resources(emulator, name)
            groups = [
                r["physical_id"] for r in created.values() if r["type"] == "AWS::EC2::SecurityGroup"
            ]
            self.record(
                f"deploy {layer}",
                {
                    "cli_seconds": run.seconds,
                    "cloudformation_seconds": cloudformation_seconds(emulator, name),
                    "stacks": stacks(emulator),
                    "resources": created,
                    "security_groups": emulator.client("ec2").describe_security_groups(
                        GroupIds=groups
                    )["SecurityGroups"]
                    if groups
                    else [],
                },
            )
            if layer != "DataLake":
                emulator.destroy(app, layer, exclusively=True)
                self.record(f"destroy {layer}", stacks(emulator))
        if self.with_opt_in:
            self.opt_in(emulator, names)

    def opt_in(self, emulator: Emulator, names: dict[str, str]) -> None:
        app = self.assembly("opt_in")
        run = emulator.deploy(app, "DataLake", exclusively=True)
        vpc = emulator.outputs(names["DataLake"])["VpcId"]
        endpoints = emulator.client("ec2").describe_vpc_endpoints(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}]
        )["VpcEndpoints"]
        self.record(
            "opt-in DataLake",
            {
                "cli_seconds": run.seconds,
                "stacks": stacks(emulator),
                "endpoints": endpoints,
                "resources": resources(emulator, names["DataLake"]),
            },
        )
        cloudformation = emulator.client("cloudformation")
        refused = {}
        for layer in ("Emr", "Ml", "Governance", "Ingestion"):
            body = (app / f"{layer}.template.json").read_text()
            if len(body) > 51_200:
                # Over ValidateTemplate's TemplateBody limit: its resources' types, which
                # are what the emulator refuses, in a template that fits.
                declared = json.loads(body)["Resources"]
                body = json.dumps(
                    {"Resources": {k: {"Type": r["Type"]} for k, r in declared.items()}}
                )
            try:
                cloudformation.validate_template(TemplateBody=body)
                refused[layer] = None
            except cloudformation.exceptions.ClientError as error:
                refused[layer] = error.response["Error"]["Message"]
        self.record("opt-in refused", refused)


class Halves:
    """The two "alone" scenarios, read as one: a record comes from whichever made it."""

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
    """Outside sandbox mode: deploy, write an object, destroy; the data must still be there."""

    def steps(self, emulator: Emulator) -> None:
        emulator.bootstrap()
        app = self.assembly("retained")
        names = stack_names(app)
        emulator.deploy(app)
        lake = emulator.outputs(names["DataLake"])
        real_time = emulator.outputs(names["RealTime"])
        self.record("lake", lake)
        self.record("real_time", real_time)
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
