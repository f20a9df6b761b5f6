"""TableExport: the export state machine run by the ASL interpreter with its intrinsic
functions evaluated and the real window function (first full export, then incremental
windows chained by the recorded time and capped at DynamoDB's 24 hours, catching up after
late or failed runs, the fallback to a full export, failures kept and alerted, retries), its
schedule, its role and the window function's, exactly, and its alarms."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_blueprints.constructs.ingestion.table_export import NO_EXPORT_YET
from ml_blueprints.runtime import export_window
from ml_blueprints.runtime.export_window import MAX_WINDOW, MIN_WINDOW, parse_time
from tests.asl_sim import TaskError, run
from tests.conftest import Synthesized
from tests.constructs.ingestion.helpers import by_sid, definition, one, role_statements, text

CONTEXT = {
    "Execution": {
        "Id": "arn:aws:states:us-east-1:000000000000:execution:export:run-42",
        "Name": "run-42",
        "StartTime": "2026-11-24T10:15:00.123Z",
    },
    "StateMachine": {"Name": "export"},
}
PREFIX = "exports/results/year=2026/month=11/day=24"
EXPORT_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/results/export/01764-abc"


@pytest.fixture(scope="module")
def machine(project: Synthesized) -> dict[str, Any]:
    _, state_machine = one(
        project, "Ingestion", "AWS::StepFunctions::StateMachine", "ResultsExport"
    )
    return state_machine


@pytest.fixture(scope="module")
def asl(machine: dict[str, Any]) -> dict[str, Any]:
    return definition(machine)


class Calls:
    """What each task was called with, in order."""

    def __init__(self) -> None:
        self.made: list[tuple[str, Any]] = []

    def task(self, name: str, answer: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(parameters: Any) -> Any:
            self.made.append((name, parameters))
            return answer(parameters)

        return call

    def of(self, name: str) -> list[Any]:
        return [p for n, p in self.made if n == name]


def _described(status: list[str], description: dict[str, Any]) -> Callable[[Any], Any]:
    answers = iter(status)

    def describe(_: Any) -> Any:
        return {"ExportDescription": {**description, "ExportStatus": next(answers)}}

    return describe


LATEST = "2026-11-24T10:10:00Z"  # the table's latest restorable time during the run
EARLIEST = "2026-10-25T10:15:00Z"


def _recovery(latest: str = LATEST, earliest: str = EARLIEST) -> Callable[[Any], Any]:
    """DescribeContinuousBackups' answer for a table with point-in-time recovery."""
    description = {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {
            "PointInTimeRecoveryStatus": "ENABLED",
            "EarliestRestorableDateTime": earliest,
            "LatestRestorableDateTime": latest,
        },
    }
    return lambda _: {"ContinuousBackupsDescription": description}


def _function(parameters: Any) -> Any:
    """The window function as Lambda runs it: an exception is the error, named after its
    class, that the state machine catches."""
    try:
        return export_window.handler(parameters, None)
    except Exception as error:
        raise TaskError(type(error).__name__, str(error)) from error


def _tasks(calls: Calls, watermark: str, **overrides: Callable[[Any], Any]) -> dict[str, Any]:
    started = {"ExportDescription": {"ExportArn": EXPORT_ARN, "ExportStatus": "IN_PROGRESS"}}
    answers: dict[str, Callable[[Any], Any]] = {
        "ReadTheWatermark": lambda _: {"Parameter": {"Value": watermark}},
        "ReadTheRecoveryWindow": _recovery(),
        "PlanTheWindow": _function,
        "StartFullExport": lambda _: started,
        "StartIncrementalExport": lambda _: started,
        "DescribeTheExport": _described(
            ["IN_PROGRESS", "COMPLETED"],
            {"ExportType": "FULL_EXPORT", "ExportTime": "2026-11-24T10:15:03Z"},
        ),
        "RecordTheFullExportTime": lambda _: {},
        "RecordTheIncrementalEnd": lambda _: {},
        "KeepTheError": lambda _: {},
        "NotifyFailure": lambda _: {},
        **overrides,
    }
    return {name: calls.task(name, answer) for name, answer in answers.items()}


def test_the_first_run_exports_the_whole_table_and_records_its_time(
    asl: dict[str, Any],
) -> None:
    calls = Calls()
    status, path, _ = run(
        asl, _tasks(calls, NO_EXPORT_YET), {"source": "schedule"}, context=CONTEXT
    )
    assert status == "SUCCEEDED"
    assert path == [
        "PlanTheRun",
        "ReadTheWatermark",
        "FirstExport?",
        "StartFullExport",
        "WaitForTheExport",
        "DescribeTheExport",
        "ExportFinished?",
        "WaitForTheExport",
        "DescribeTheExport",
        "ExportFinished?",
        "RecordTheFullExportTime",
        "Exported",
    ]
    [export] = calls.of("StartFullExport")
    assert export == {
        "TableArn": "TOKEN",
        "S3Bucket": "TOKEN",
        "S3BucketOwner": "TOKEN",
        "S3Prefix": PREFIX,  # the run's date, as year=/month=/day= folders
        "S3SseAlgorithm": "KMS",
        "S3SseKmsKeyId": "TOKEN",
        "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "FULL_EXPORT",
    }
    assert calls.of("DescribeTheExport") == [{"ExportArn": EXPORT_ARN}] * 2
    [recorded] = calls.of("RecordTheFullExportTime")
    assert recorded == {
        "Name": "TOKEN",
        "Value": "2026-11-24T10:15:03Z",
        "Type": "String",
        "Overwrite": True,
    }


def test_later_runs_export_the_changes_since_the_recorded_time_and_move_it_on(
    asl: dict[str, Any],
) -> None:
    calls = Calls()
    incremental = {
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {
            "ExportFromTime": "2026-11-23T10:15:03Z",
            "ExportToTime": LATEST,
        },
    }
    tasks = _tasks(
        calls,
        "2026-11-23T10:15:03Z",
        DescribeTheExport=_described(["COMPLETED"], incremental),
    )
    status, path, _ = run(asl, tasks, {}, context=CONTEXT)
    assert status == "SUCCEEDED"
    assert path == [
        "PlanTheRun",
        "ReadTheWatermark",
        "FirstExport?",
        "ReadTheRecoveryWindow",
        "PlanTheWindow",
        "WindowReady?",
        "StartIncrementalExport",
        "WaitForTheExport",
        "DescribeTheExport",
        "ExportFinished?",
        "RecordTheIncrementalEnd",
        "CaughtUp?",
        "Exported",
    ]
    assert calls.of("ReadTheRecoveryWindow") == [{"TableName": "TOKEN"}]
    [export] = calls.of("StartIncrementalExport")
    assert export["ExportType"] == "INCREMENTAL_EXPORT"
    assert export["S3Prefix"] == PREFIX
    # From the previous export's end to the latest restorable time: no gap, no overlap.
    assert export["IncrementalExportSpecification"] == {
        "ExportFromTime": "2026-11-23T10:15:03Z",
        "ExportToTime": LATEST,
        "ExportViewType": "NEW_AND_OLD_IMAGES",
    }
    [recorded] = calls.of("RecordTheIncrementalEnd")
    assert recorded["Value"] == LATEST


@pytest.mark.parametrize(
    "refusal", ["DynamoDb.InvalidExportTimeException", "DynamoDb.ValidationException"]
)
def test_a_refused_window_falls_back_to_a_full_export(asl: dict[str, Any], refusal: str) -> None:
    calls = Calls()

    def refuse(_: Any) -> Any:
        raise TaskError(refusal, "the export period must be between 15 minutes and 24 hours")

    tasks = _tasks(calls, "2026-11-23T10:15:03Z", StartIncrementalExport=refuse)
    status, path, _ = run(asl, tasks, {}, context=CONTEXT)
    assert status == "SUCCEEDED"
    assert path[5:8] == ["WindowReady?", "StartIncrementalExport", "StartFullExport"]
    assert [p["Value"] for p in calls.of("RecordTheFullExportTime")] == ["2026-11-24T10:15:03Z"]


class FakeTable:
    """DynamoDB and the watermark parameter as the state machine meets them: the parameter
    holds what was last recorded; an incremental export outside 15 minutes to 24 hours or
    outside the recovery period is refused, as DynamoDB refuses it; an export completes
    (or fails, when told) at once and is described back as it was asked for."""

    def __init__(self, watermark: str = NO_EXPORT_YET) -> None:
        self.parameter = watermark
        self.latest = LATEST
        self.earliest = EARLIEST
        self.exports: list[tuple[str, str, str]] = []  # (type, from, to) as completed
        self.refused = 0
        self.fail_next_export = False
        self._described: dict[str, Any] = {}

    def tasks(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "ReadTheWatermark": lambda _: {"Parameter": {"Value": self.parameter}},
            "ReadTheRecoveryWindow": lambda p: _recovery(self.latest, self.earliest)(p),
            "PlanTheWindow": _function,
            "StartFullExport": self._full,
            "StartIncrementalExport": self._incremental,
            "DescribeTheExport": lambda _: {"ExportDescription": self._described},
            "RecordTheFullExportTime": self._record,
            "RecordTheIncrementalEnd": self._record,
            "KeepTheError": lambda _: {},
            "NotifyFailure": lambda _: {},
        }

    def _record(self, parameters: Any) -> Any:
        self.parameter = parameters["Value"]
        return {}

    def _complete(self, description: dict[str, Any]) -> Any:
        status = "FAILED" if self.fail_next_export else "COMPLETED"
        self.fail_next_export = False
        self._described = {**description, "ExportStatus": status}
        return {"ExportDescription": {"ExportArn": EXPORT_ARN, "ExportStatus": "IN_PROGRESS"}}

    def _full(self, _: Any) -> Any:
        self.exports.append(("FULL", "", self.latest))
        return self._complete({"ExportType": "FULL_EXPORT", "ExportTime": self.latest})

    def _incremental(self, parameters: Any) -> Any:
        spec = parameters["IncrementalExportSpecification"]
        start, end = spec["ExportFromTime"], spec["ExportToTime"]
        length = parse_time(end) - parse_time(start)
        if not (
            MIN_WINDOW <= length <= MAX_WINDOW
            and parse_time(self.earliest) <= parse_time(start)
            and parse_time(end) <= parse_time(self.latest)
        ):
            self.refused += 1
            raise TaskError("DynamoDb.InvalidExportTimeException", f"{start} to {end}")
        self.exports.append(("INCREMENTAL", start, end))
        return self._complete(
            {
                "ExportType": "INCREMENTAL_EXPORT",
                "IncrementalExportSpecification": {"ExportFromTime": start, "ExportToTime": end},
            }
        )

    def run(self, asl: dict[str, Any], start: str) -> tuple[str, list[str]]:
        context = {**CONTEXT, "Execution": {**CONTEXT["Execution"], "StartTime": start}}
        status, path, _ = run(asl, self.tasks(), {}, max_steps=2000, context=context)
        return status, path


def test_a_run_days_behind_exports_24_hour_windows_until_it_has_caught_up(
    asl: dict[str, Any],
) -> None:
    # The daily run failed twice: the last export ended three days and a bit ago.
    table = FakeTable("2026-11-21T09:00:00Z")
    status, path = table.run(asl, "2026-11-24T10:15:00.123Z")
    assert status == "SUCCEEDED" and table.refused == 0
    assert table.exports == [
        ("INCREMENTAL", "2026-11-21T09:00:00Z", "2026-11-22T09:00:00Z"),
        ("INCREMENTAL", "2026-11-22T09:00:00Z", "2026-11-23T09:00:00Z"),
        ("INCREMENTAL", "2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z"),
        ("INCREMENTAL", "2026-11-24T09:00:00Z", LATEST),
    ]
    assert table.parameter == LATEST
    assert path.count("ReadTheWatermark") == 4 and path[-2:] == ["CaughtUp?", "Exported"]
    assert "StartFullExport" not in path  # no fallback to a whole-table export


def test_a_run_right_after_an_export_exports_nothing_and_keeps_the_watermark(
    asl: dict[str, Any],
) -> None:
    table = FakeTable("2026-11-24T10:00:00Z")  # 10 minutes before the latest time
    status, path = table.run(asl, "2026-11-24T10:15:00.123Z")
    assert status == "SUCCEEDED"
    assert path[-3:] == ["PlanTheWindow", "WindowReady?", "NothingToExportYet"]
    assert table.exports == [] and table.parameter == "2026-11-24T10:00:00Z"


def test_a_watermark_older_than_the_recovery_period_gets_a_full_export(
    asl: dict[str, Any],
) -> None:
    table = FakeTable("2026-10-01T00:00:00Z")  # recovery keeps 35 days: before the earliest
    status, path = table.run(asl, "2026-11-24T10:15:00.123Z")
    assert status == "SUCCEEDED"
    assert "StartIncrementalExport" not in path and table.refused == 0
    assert table.exports == [("FULL", "", LATEST)] and table.parameter == LATEST


def test_a_table_without_point_in_time_recovery_fails_the_run_with_its_reason_kept(
    asl: dict[str, Any],
) -> None:
    calls = Calls()

    def recovery_off(_: Any) -> Any:
        return {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "DISABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
            }
        }

    tasks = _tasks(calls, "2026-11-23T10:15:03Z", ReadTheRecoveryWindow=recovery_off)
    status, path, _ = run(asl, tasks, {}, context=CONTEXT)
    assert status == "FAILED"
    assert path[-4:] == ["PlanTheWindow", "KeepTheError", "NotifyFailure", "Failed"]
    [kept] = calls.of("KeepTheError")
    assert kept["Key"] == "errors/exports/results/year=2026/month=11/day=24/run-42.json"
    assert "PointInTimeRecoveryUnavailable" in kept["Body"]
    assert calls.of("StartIncrementalExport") == calls.of("RecordTheIncrementalEnd") == []


@settings(
    max_examples=40,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            # When the run starts after the previous one: on time, late (Scheduler's
            # retries), a day or more skipped, or a manual run shortly after.
            st.sampled_from([0, 60, 7 * 60, 3600, 23 * 3600, 24 * 3600, 49 * 3600]),
            st.integers(min_value=0, max_value=3 * 3600),
            # How far the latest restorable time trails the start, and whether the
            # run's export fails.
            st.integers(min_value=0, max_value=600),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_daily_runs_however_late_or_failed_chain_windows_within_dynamodb_limits(
    asl: dict[str, Any], runs: list[tuple[int, int, int, bool]]
) -> None:
    """The synthesized definition and the real window function over a series of runs: after
    the first full export, only incremental windows DynamoDB accepts (never a refusal and a
    fallback to a whole-table export), each starting where the last completed one ended;
    and every successful run leaves less than 15 minutes unexported."""
    table = FakeTable()
    clock = parse_time("2026-11-20T02:00:00Z")
    table.latest = export_window.format_time(clock)
    table.earliest = "2026-10-15T00:00:00Z"
    assert table.run(asl, "2026-11-20T02:00:00.000Z")[0] == "SUCCEEDED"  # the full export
    for base, jitter, lag, fails in runs:
        clock += timedelta(seconds=base + jitter + 15 * 60)
        table.latest = export_window.format_time(clock - timedelta(seconds=lag))
        table.fail_next_export = fails
        before = table.parameter
        status, _ = table.run(asl, export_window.format_time(clock))
        table.fail_next_export = False  # a run with nothing to export failed nothing
        if status == "FAILED":
            assert fails and table.parameter == before  # the next run covers it
            table.exports.pop()  # a failed export completed nothing
            continue
        assert status == "SUCCEEDED"
        assert parse_time(table.latest) - parse_time(table.parameter) < MIN_WINDOW
    assert table.refused == 0
    kinds = [kind for kind, _, _ in table.exports]
    assert kinds[0] == "FULL" and set(kinds[1:]) <= {"INCREMENTAL"}
    for (_, _, previous_end), (_, start, end) in pairwise(table.exports):
        assert start == previous_end  # no gap, no overlap
        assert MIN_WINDOW <= parse_time(end) - parse_time(start) <= MAX_WINDOW


def test_a_failed_export_is_kept_under_the_error_prefix_alerted_and_not_recorded(
    asl: dict[str, Any],
) -> None:
    calls = Calls()
    failed = _described(["FAILED"], {"ExportType": "FULL_EXPORT", "FailureCode": "S3NoSuchBucket"})
    status, path, _ = run(
        asl, _tasks(calls, NO_EXPORT_YET, DescribeTheExport=failed), {}, context=CONTEXT
    )
    assert status == "FAILED"
    assert path[-4:] == ["ExportFailed", "KeepTheError", "NotifyFailure", "Failed"]
    [kept] = calls.of("KeepTheError")
    assert kept["Key"] == "errors/exports/results/year=2026/month=11/day=24/run-42.json"
    assert '"FailureCode":"S3NoSuchBucket"' in kept["Body"]
    assert kept["ContentType"] == "application/json"
    assert len(calls.of("NotifyFailure")) == 1
    assert calls.of("RecordTheFullExportTime") == calls.of("RecordTheIncrementalEnd") == []


def test_throttled_calls_are_retried_and_other_errors_fail_the_run(asl: dict[str, Any]) -> None:
    calls = Calls()
    attempts = {"n": 0}

    def busy(_: Any) -> Any:
        attempts["n"] += 1
        if attempts["n"] <= 2:
            raise TaskError("DynamoDb.LimitExceededException", "too many exports")
        return {"ExportDescription": {"ExportArn": EXPORT_ARN}}

    status, _, _ = run(asl, _tasks(calls, NO_EXPORT_YET, StartFullExport=busy), {}, context=CONTEXT)
    assert status == "SUCCEEDED" and attempts["n"] == 3

    def denied(_: Any) -> Any:
        raise TaskError("DynamoDb.AccessDeniedException", "not allowed")

    calls = Calls()
    status, path, _ = run(
        asl, _tasks(calls, NO_EXPORT_YET, StartFullExport=denied), {}, context=CONTEXT
    )
    assert status == "FAILED"
    assert path[-3:] == ["KeepTheError", "NotifyFailure", "Failed"]


def test_the_alert_goes_out_even_when_the_error_record_cannot_be_written(
    asl: dict[str, Any],
) -> None:
    calls = Calls()

    def down(_: Any) -> Any:
        raise TaskError("S3.S3Exception", "unavailable")

    def no_table(_: Any) -> Any:
        raise TaskError("DynamoDb.PointInTimeRecoveryUnavailableException", "PITR off")

    tasks = _tasks(calls, NO_EXPORT_YET, StartFullExport=no_table, KeepTheError=down)
    status, path, _ = run(asl, tasks, {}, context=CONTEXT)
    assert status == "FAILED"
    assert path[-2:] == ["NotifyFailure", "Failed"]
    assert len(calls.of("KeepTheError")) == 3  # tried, then retried twice


def test_a_full_only_export_never_asks_for_changes(construct_variants: Synthesized) -> None:
    _, machine = one(
        construct_variants,
        "IngestionVariants",
        "AWS::StepFunctions::StateMachine",
        "FeaturesExport",
    )
    asl = definition(machine)
    assert not {"StartIncrementalExport", "ReadTheRecoveryWindow", "PlanTheWindow"} & set(
        asl["States"]
    )
    calls = Calls()
    status, _, _ = run(asl, _tasks(calls, "2026-11-23T00:00:00Z"), {}, context=CONTEXT)
    assert status == "SUCCEEDED"
    [export] = calls.of("StartFullExport")
    assert export["ExportFormat"] == "ION"
    assert export["S3Prefix"] == "snapshots/features/year=2026/month=11/day=24"
    assert asl["States"]["WaitForTheExport"]["Seconds"] == 300


def test_the_state_machine_is_logged_traced_and_bounded(machine: dict[str, Any]) -> None:
    props = machine["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    asl = definition(machine)
    assert asl["TimeoutSeconds"] == 12 * 3600
    for name in ("StartFullExport", "StartIncrementalExport", "DescribeTheExport"):
        [retry] = asl["States"][name]["Retry"]
        assert "DynamoDb.LimitExceededException" in retry["ErrorEquals"]
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (30, 3, 2)
    assert asl["States"]["StartIncrementalExport"]["Resource"].endswith(
        ":states:::aws-sdk:dynamodb:exportTableToPointInTime"
    )


def test_the_role_may_export_this_table_into_its_prefix_and_nothing_else(
    project: Synthesized,
) -> None:
    _, role = one(project, "Ingestion", "AWS::IAM::Role", "ResultsExportMachineRole")
    assert role["Properties"]["RoleName"] == "mlbp-dev-svc-export-results"  # exempt by name
    statements = role_statements(project, "Ingestion", "ResultsExportMachineRole")
    export = [s for s in statements if "dynamodb:ExportTableToPointInTime" in text(s["Action"])]
    assert len(export) == 1 and "ResultsTable" in text(export[0]["Resource"])
    describe = [s for s in statements if "dynamodb:DescribeExport" in text(s["Action"])]
    assert len(describe) == 1 and text(describe[0]["Resource"]).endswith('/export/*"]]}')
    parameter = [s for s in statements if "ssm:" in text(s["Action"])]
    assert {
        a
        for s in parameter
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    } == {
        "ssm:getParameter",
        "ssm:putParameter",
    }
    assert all("Watermark" in text(s["Resource"]) for s in parameter)
    backups = [s for s in statements if "dynamodb:DescribeContinuousBackups" in text(s["Action"])]
    assert len(backups) == 1 and "ResultsTable" in text(backups[0]["Resource"])
    [invoke] = [s for s in statements if "lambda:" in text(s["Action"])]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert all("ResultsExportWindowFunction" in text(r) for r in invoke["Resource"])
    sids = by_sid(statements)
    writes = sids["DynamoDbWritesTheExport"]
    assert sorted(writes["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:PutObject",
        "s3:PutObjectAcl",
    ]
    assert text(writes["Resource"]).endswith('/exports/results/*"]]}')
    error = [s for s in statements if s.get("Action") == "s3:PutObject" and "Sid" not in s]
    assert len(error) == 1 and text(error[0]["Resource"]).endswith('/errors/exports/results/*"]]}')
    key = sids["EncryptWithTheLakeKey"]
    assert sorted(key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    context = text(key["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"])
    assert "/exports/results/*" in context and "/errors/exports/results/*" in context
    assert not any(
        a in ("*", "s3:*", "dynamodb:*") for s in statements for a in text(s["Action"]).split('"')
    )


def test_the_window_function_is_the_runtime_module_alone_and_reaches_nothing(
    project: Synthesized,
) -> None:
    _, function = one(project, "Ingestion", "AWS::Lambda::Function", "ResultsExportWindow")
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Handler"] == "export_window.handler"
    assert (props["MemorySize"], props["Timeout"], props["ReservedConcurrentExecutions"]) == (
        128,
        30,
        2,
    )
    assert "VpcConfig" not in props and "Environment" not in props
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    group = project.resources("Ingestion", "AWS::Logs::LogGroup")[log_group]["Properties"]
    assert "LakeKey" in text(group["KmsKeyId"]) and group["RetentionInDays"] == 365
    statements = role_statements(project, "Ingestion", "ResultsExportWindowRole")
    assert len(statements) == 1
    assert sorted(statements[0]["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements[0]["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    bundle = project.outdir / f"asset.{props['Code']['S3Key'].removesuffix('.zip')}"
    assert sorted(p.name for p in bundle.iterdir()) == ["export_window.py"]
    # As Lambda runs it: no site-packages, so nothing but the standard library.
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import export_window as w; "
        "assert 'ml_blueprints' not in sys.modules; "
        "print(json.dumps(w.handler(json.loads(sys.argv[2]), None)))"
    )
    event = {
        "lastEnd": "2026-11-21T09:00:00Z",
        "recovery": _recovery()(None)["ContinuousBackupsDescription"],
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(bundle), json.dumps(event)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == {
        "action": "INCREMENTAL",
        "from": "2026-11-21T09:00:00Z",
        "to": "2026-11-22T09:00:00Z",
        "next": "EXPORT_AGAIN",
    }


def test_a_full_only_export_has_no_window_function(construct_variants: Synthesized) -> None:
    functions = construct_variants.resources("IngestionVariants", "AWS::Lambda::Function")
    assert not [k for k in functions if k.startswith("FeaturesExport")]


def test_it_runs_daily_from_its_own_schedule_group_and_alarms(project: Synthesized) -> None:
    _, schedule = one(project, "Ingestion", "AWS::Scheduler::Schedule", "ResultsExport")
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 day)"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert "ResultsExportMachineStateMachine" in text(target["Arn"])
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert "ResultsExport-Schedule-Group" in text(props["GroupName"])  # its own group
    alarms = {
        k: a["Properties"]
        for k, a in project.resources("Ingestion", "AWS::CloudWatch::Alarm").items()
        if k.startswith("ResultsExport")
    }
    assert len(alarms) == 3  # failed executions, timed-out executions, dropped starts
    assert all(a["AlarmActions"] and a["OKActions"] for a in alarms.values())
    names = text(alarms)
    assert "ExecutionsFailed" in names and "ExecutionsTimedOut" in names
    assert "InvocationDroppedCount" in names
