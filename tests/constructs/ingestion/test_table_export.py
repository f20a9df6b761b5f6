"""TableExport: the export state machine run by the ASL interpreter with its intrinsic
functions evaluated (first full export, then incremental windows chained by the recorded
time, the fallback to a full export, failures kept and alerted, retries), its schedule,
its role, exactly, and its alarms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ml_blueprints.constructs.ingestion.table_export import NO_EXPORT_YET
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


def _tasks(calls: Calls, watermark: str, **overrides: Callable[[Any], Any]) -> dict[str, Any]:
    started = {"ExportDescription": {"ExportArn": EXPORT_ARN, "ExportStatus": "IN_PROGRESS"}}
    answers: dict[str, Callable[[Any], Any]] = {
        "ReadTheWatermark": lambda _: {"Parameter": {"Value": watermark}},
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
            "ExportToTime": "2026-11-24T10:10:00Z",
        },
    }
    tasks = _tasks(
        calls,
        "2026-11-23T10:15:03Z",
        DescribeTheExport=_described(["COMPLETED"], incremental),
    )
    status, path, _ = run(asl, tasks, {}, context=CONTEXT)
    assert status == "SUCCEEDED"
    assert "StartFullExport" not in path
    [export] = calls.of("StartIncrementalExport")
    assert export["ExportType"] == "INCREMENTAL_EXPORT"
    assert export["S3Prefix"] == PREFIX
    # From the previous export's end to the latest time DynamoDB has: no gap, no overlap.
    assert export["IncrementalExportSpecification"] == {
        "ExportFromTime": "2026-11-23T10:15:03Z",
        "ExportViewType": "NEW_AND_OLD_IMAGES",
    }
    [recorded] = calls.of("RecordTheIncrementalEnd")
    assert recorded["Value"] == "2026-11-24T10:10:00Z"


@pytest.mark.parametrize(
    "refusal", ["DynamoDb.InvalidExportTimeException", "DynamoDb.ValidationException"]
)
def test_a_refused_window_falls_back_to_a_full_export(asl: dict[str, Any], refusal: str) -> None:
    calls = Calls()

    def refuse(_: Any) -> Any:
        raise TaskError(refusal, "the export period must be between 15 minutes and 24 hours")

    tasks = _tasks(calls, "2026-11-01T00:00:00Z", StartIncrementalExport=refuse)
    status, path, _ = run(asl, tasks, {}, context=CONTEXT)
    assert status == "SUCCEEDED"
    assert path[3:5] == ["StartIncrementalExport", "StartFullExport"]
    assert [p["Value"] for p in calls.of("RecordTheFullExportTime")] == ["2026-11-24T10:15:03Z"]


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
    assert "StartIncrementalExport" not in asl["States"]
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
