"""EtlWorkflow: the state machine's control flow (run for real by a small interpreter),
its retries, failure path, logging, tracing and permissions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import AlertTopic, SecureDataLake
from ml_blueprints.constructs.analytics.data_catalog import DataCatalog, ZoneCrawl
from ml_blueprints.constructs.analytics.etl_workflow import EtlWorkflow
from ml_blueprints.constructs.analytics.spark_etl_job import SparkEtlJob
from tests.asl_sim import TaskError, run
from tests.conftest import Synthesized


@pytest.fixture(scope="module")
def state_machine(project: Synthesized) -> dict[str, Any]:
    [machine] = project.resources("Analytics", "AWS::StepFunctions::StateMachine").values()
    return machine["Properties"]


@pytest.fixture(scope="module")
def definition(state_machine: dict[str, Any]) -> dict[str, Any]:
    parts = state_machine["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def _crawler(states: list[str], last_status: str | None = "SUCCEEDED") -> Callable[[Any], Any]:
    """getCrawler answers: the given states in turn, then READY with the last crawl."""
    answers: Iterator[str] = iter(states)

    def get(_: Any) -> Any:
        state = next(answers, "READY")
        crawler: dict[str, Any] = {"State": state}
        if last_status is not None and state == "READY":
            crawler["LastCrawl"] = {"Status": last_status, "ErrorMessage": "boom"}
        return {"Crawler": crawler}

    return get


def _ok(result: Any = None) -> Callable[[Any], Any]:
    return lambda _: result if result is not None else {}


def _fails(error: str, times: int = 1_000) -> Callable[[Any], Any]:
    calls = {"n": 0}

    def task(_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise TaskError(error, f"{error} happened")
        return {}

    return task


def _tasks(**overrides: Callable[[Any], Any]) -> dict[str, Callable[[Any], Any]]:
    tasks = {
        "StartRawCrawler": _ok(),
        "GetRawCrawlerState": _crawler(["RUNNING", "RUNNING", "STOPPING"]),
        "RunEtlJob": _ok({"Id": "jr_1", "JobRunState": "SUCCEEDED"}),
        "StartCuratedCrawler": _ok(),
        "GetCuratedCrawlerState": _crawler(["RUNNING"]),
        "NotifyFailure": _ok(),
    }
    tasks.update(overrides)
    return tasks


def test_happy_path_crawls_runs_the_job_and_crawls_again(definition: dict[str, Any]) -> None:
    status, visited, output = run(definition, _tasks())
    assert status == "SUCCEEDED"
    order = [
        s for s in visited if s in ("StartRawCrawler", "RunEtlJob", "StartCuratedCrawler", "Done")
    ]
    assert order == ["StartRawCrawler", "RunEtlJob", "StartCuratedCrawler", "Done"]
    assert visited.count("GetRawCrawlerState") == 4  # polled until READY
    assert output["job"] == {"JobRunId": "jr_1", "State": "SUCCEEDED"}
    assert "NotifyFailure" not in visited


def test_a_failed_crawl_is_recorded_notified_and_fails_the_execution(
    definition: dict[str, Any],
) -> None:
    status, visited, output = run(
        definition, _tasks(GetRawCrawlerState=_crawler(["RUNNING"], last_status="FAILED"))
    )
    assert status == "FAILED"
    assert visited[-4:] == ["RawCrawlFailed", "RecordFailure", "NotifyFailure", "Failed"]
    assert "RunEtlJob" not in visited
    assert output["failure"]["Error"] == "CrawlerFailed"
    assert "FAILED" in output["failure"]["Cause"]


def test_a_crawler_that_never_finished_a_crawl_before_does_not_break_the_choice(
    definition: dict[str, Any],
) -> None:
    status, visited, _ = run(
        definition, _tasks(GetRawCrawlerState=_crawler(["RUNNING"], last_status=None))
    )
    assert status == "SUCCEEDED" and "RunEtlJob" in visited


def test_a_crawler_already_running_is_waited_for(definition: dict[str, Any]) -> None:
    status, visited, _ = run(
        definition, _tasks(StartRawCrawler=_fails("Glue.CrawlerRunningException"))
    )
    assert status == "SUCCEEDED"
    assert "RawCrawlerAlreadyRunning" in visited


def test_transient_errors_are_retried(definition: dict[str, Any]) -> None:
    status, visited, _ = run(
        definition, _tasks(StartCuratedCrawler=_fails("Glue.ThrottlingException", times=2))
    )
    assert status == "SUCCEEDED" and "NotifyFailure" not in visited


def test_a_job_that_keeps_failing_goes_to_the_failure_path(definition: dict[str, Any]) -> None:
    status, visited, output = run(definition, _tasks(RunEtlJob=_fails("States.TaskFailed")))
    assert status == "FAILED"
    assert visited.count("RunEtlJob") == 1 and visited[-3:] == [
        "RecordFailure",
        "NotifyFailure",
        "Failed",
    ]
    assert output["error"]["Error"] == "States.TaskFailed"
    assert "StartCuratedCrawler" not in visited


def test_every_task_retries_with_backoff_and_is_caught(definition: dict[str, Any]) -> None:
    tasks = {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}
    assert set(tasks) == {
        "StartRawCrawler",
        "GetRawCrawlerState",
        "RunEtlJob",
        "StartCuratedCrawler",
        "GetCuratedCrawlerState",
        "NotifyFailure",
    }
    for name, task in tasks.items():
        assert task["Retry"], name
        assert all(r["BackoffRate"] == 2 for r in task["Retry"]), name
        if name != "NotifyFailure":
            assert any(
                c["Next"] == "RecordFailure" and c["ErrorEquals"] == ["States.ALL"]
                for c in task["Catch"]
            ), name
    assert definition["States"]["RunEtlJob"]["Resource"].endswith("glue:startJobRun.sync")


def test_logging_all_to_an_encrypted_group_and_tracing(
    project: Synthesized, state_machine: dict[str, Any]
) -> None:
    logging = state_machine["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)
    assert state_machine["TracingConfiguration"] == {"Enabled": True}
    group_id = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    group = project.template_json("Analytics")["Resources"][group_id]["Properties"]
    assert "LakeKey" in json.dumps(group["KmsKeyId"]) and group["RetentionInDays"] == 365


def test_the_role_may_touch_only_its_crawlers_job_and_topic(project: Synthesized) -> None:
    workflow: EtlWorkflow = project.stack("Analytics").workflow
    stack = project.stack("Analytics")
    policy_id = stack.get_logical_id(workflow.role.grants_policy.node.default_child)
    statements = project.template_json("Analytics")["Resources"][policy_id]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    glue = [
        s
        for s in statements
        if any(
            str(a).startswith("glue:")
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
    ]
    rendered = json.dumps(glue)
    assert ":crawler/" in rendered and ":job/mlbp-dev-lake-raw-to-curated" in rendered
    assert '"glue:*"' not in rendered
    publish = [s for s in statements if s["Action"] == "sns:Publish"]
    assert len(publish) == 1


def test_invalid_props_are_refused_with_a_clear_error() -> None:
    stack = cdk.Stack(cdk.App(), "Validation")
    catalog = DataCatalog(
        stack,
        "Catalog",
        lake=SecureDataLake(stack, "Lake"),
        database_name="lake",
        crawls=[ZoneCrawl("raw", "events/"), ZoneCrawl("curated", "events/")],
    )
    job = SparkEtlJob(stack, "Job", catalog=catalog)
    with pytest.raises(ValueError, match=r"^EtlWorkflow: invalid props") as error:
        EtlWorkflow(
            stack,
            "Workflow",
            raw_crawler=catalog.crawlers["raw/events/"],
            job=job,
            curated_crawler=catalog.crawlers["curated/events/"],
            alerts=AlertTopic(stack, "Alerts"),
            key=catalog.lake.key,
            poll_seconds=5,
            timeout_hours=0,
            log_retention_days=2,
        )
    message = str(error.value)
    for expected in (
        "poll_seconds=5: 10 to 3600",
        "timeout_hours=0: 1 to 168",
        "log_retention_days=2: one of CloudWatch",
    ):
        assert expected in message
