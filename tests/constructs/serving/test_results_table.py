"""ResultsTable: recovery, key, protection, capacity and TTL; exact grants; and the record of
every training run, run through a small state machine by the ASL interpreter and written
to a DynamoDB table (moto) with the synthesized key schema, then listed by pipeline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template
from moto import mock_aws

from ml_blueprints.constructs import ResultsTable, TrainingRunPaths
from ml_blueprints.constructs.serving.results_table import (
    BY_PIPELINE_INDEX,
    KEY_READ_ACTIONS,
    KEY_WRITE_ACTIONS,
    READ_ACTIONS,
    RETRYABLE_ERRORS,
)
from tests.asl_sim import TaskError, run
from tests.conftest import Synthesized

EXECUTIONS = "arn:aws:states:eu-west-1:111122223333:execution:mlbp-dev-training"


def _table(synth: Synthesized, stack: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, table)] = synth.resources(stack, "AWS::DynamoDB::GlobalTable").items()
    return logical_id, table


@pytest.mark.parametrize("mode", ["default", "sandbox"])
def test_the_table_recovers_is_encrypted_on_demand_and_expires_rows(
    project: Synthesized, sandbox_project: Synthesized, mode: str
) -> None:
    synth = sandbox_project if mode == "sandbox" else project
    _, table = _table(synth, "Serving")
    props = table["Properties"]
    [replica] = props["Replicas"]
    assert replica["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": 35,
    }
    [(key_id, key)] = (
        synth.resources("Serving", "AWS::KMS::Key").items()
        if mode == "default"
        else [
            (k, v)
            for k, v in synth.resources("Serving", "AWS::KMS::Key").items()
            if k.startswith("ResultsKey")
        ]
    )
    assert replica["SSESpecification"] == {"KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert key["Properties"]["EnableKeyRotation"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "job_name", "KeyType": "HASH"}]
    [index] = props["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": BY_PIPELINE_INDEX,
        "KeySchema": [
            {"AttributeName": "pipeline", "KeyType": "HASH"},
            {"AttributeName": "started_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    sandbox = mode == "sandbox"
    # The app's one switch: protected and retained outside sandbox mode, neither inside.
    assert replica["DeletionProtectionEnabled"] is (not sandbox)
    assert table["DeletionPolicy"] == ("Delete" if sandbox else "Retain")
    assert key["DeletionPolicy"] == ("Delete" if sandbox else "Retain")


def test_non_default_props(construct_variants: Synthesized) -> None:
    _, table = _table(construct_variants, "ServingVariants")
    props = table["Properties"]
    assert props["TableName"] == "team-ml-results"
    [replica] = props["Replicas"]
    assert replica["PointInTimeRecoverySpecification"]["RecoveryPeriodInDays"] == 7
    # deletion_protection given explicitly wins over the DESTROY removal policy
    assert replica["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Delete"


def _statements(synth: Synthesized, stack: str, policy_prefix: str) -> list[dict[str, Any]]:
    [policy] = [
        p
        for logical_id, p in synth.resources(stack, "AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith(policy_prefix)
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_grant_read_results_is_exactly_reading_the_table_and_decrypting_through_dynamodb(
    construct_variants: Synthesized,
) -> None:
    table_id, _ = _table(construct_variants, "ServingVariants")
    key_id = next(
        k
        for k in construct_variants.resources("ServingVariants", "AWS::KMS::Key")
        if "Results" in k
    )
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    assert _statements(construct_variants, "ServingVariants", "ResultsReaderGrantsPolicy") == [
        {
            "Action": sorted(READ_ACTIONS),
            "Effect": "Allow",
            "Resource": [table_arn, {"Fn::Join": ["", [table_arn, "/index/*"]]}],
        },
        {
            "Action": sorted(KEY_READ_ACTIONS),
            "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [key_id, "Arn"]},
        },
    ]
    assert not any(a.startswith("dynamodb:Put") or ":Delete" in a for a in READ_ACTIONS)


# ------------------------------------------------------------------ recording training runs


def _recording_app() -> tuple[cdk.Stack, ResultsTable, iam.Role, dict[str, Any]]:
    """A small state machine of the pipeline's shape: train (catching failures), then record
    the outcome. No rule packs: it exists to produce the definition."""
    app = cdk.App()
    stack = cdk.Stack(
        app, "Recording", env=cdk.Environment(account="111122223333", region="eu-west-1")
    )
    results = ResultsTable(stack, "Results", removal_policy=cdk.RemovalPolicy.DESTROY)
    train = sfn.CustomState(
        stack,
        "Train",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
            "Parameters": {"TrainingJobName.$": "$.run.name"},
            "ResultSelector": {
                "ModelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
                "TrainingTimeInSeconds.$": "$.TrainingTimeInSeconds",
                "BillableTimeInSeconds.$": "$.BillableTimeInSeconds",
                "FinalMetricDataList.$": "$.FinalMetricDataList",
            },
            "ResultPath": "$.training",
        },
    )
    records = results.record_training_run(stack, paths=TrainingRunPaths())
    train.add_catch(
        records.failed.next(sfn.Fail(stack, "Failed", error="TrainingFailed")),
        errors=["States.ALL"],
        result_path="$.error",
    )
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
    grant = results.grant_record_runs(role)
    assert grant.success
    machine = sfn.StateMachine(
        stack,
        "Machine",
        role=role,
        definition_body=sfn.DefinitionBody.from_chainable(
            train.next(records.succeeded).next(sfn.Succeed(stack, "Done"))
        ),
    )
    template = Template.from_stack(stack).to_json()
    [definition] = [
        r["Properties"]["DefinitionString"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    parts = definition["Fn::Join"][1]
    _ = machine
    return (
        stack,
        results,
        role,
        {
            "definition": json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts)),
            "template": template,
        },
    )


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    _, _, _, built = _recording_app()
    return built


def _evaluate(expression: str, document: Any, context: dict[str, str]) -> Any:
    if expression.startswith("$$."):
        return context[expression]
    if call := re.fullmatch(r"States\.JsonToString\((\$[^)]*)\)", expression):
        return json.dumps(_evaluate(call.group(1), document, context))
    if call := re.fullmatch(r"States\.Format\('\{\}', (\$[^)]*)\)", expression):
        return str(_evaluate(call.group(1), document, context))
    value = document
    for part in expression.removeprefix("$.").split("."):
        if not isinstance(value, dict) or part not in value:
            raise TaskError("States.Runtime", f"{expression} not found")
        value = value[part]
    return value


def _render(template: Any, document: Any, context: dict[str, str]) -> Any:
    if isinstance(template, dict):
        return {
            (key[:-2] if key.endswith(".$") else key): (
                _evaluate(value, document, context)
                if key.endswith(".$")
                else _render(value, document, context)
            )
            for key, value in template.items()
        }
    return template


@pytest.fixture
def dynamodb(recording: dict[str, Any]) -> Iterator[Any]:
    """The results table in moto, created with the synthesized key schema and index."""
    [props] = [
        r["Properties"]
        for r in recording["template"]["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::GlobalTable"
    ]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="results",
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
            BillingMode=props["BillingMode"],
        )
        yield client


def _execute(
    definition: dict[str, Any],
    client: Any,
    job: str,
    started: str,
    train: Any,
) -> tuple[str, list[str]]:
    context = {
        "$$.Execution.StartTime": started,
        "$$.State.EnteredTime": started.replace("T10", "T11"),
        "$$.StateMachine.Name": "mlbp-dev-training",
        "$$.Execution.Id": f"{EXECUTIONS}:{job}",
    }

    def put(state: str) -> Any:
        def task(document: Any) -> Any:
            parameters = _render(definition["States"][state]["Parameters"], document, context)
            assert parameters["TableName"] == "TOKEN"  # the table's name, resolved on deploy
            client.put_item(TableName="results", Item=parameters["Item"])
            return {"ConsumedCapacity": {}}

        return task

    status, visited, _ = run(
        definition,
        {
            "Train": train,
            "RecordSucceeded": put("RecordSucceeded"),
            "RecordFailed": put("RecordFailed"),
        },
        {"run": {"name": job}},
    )
    return status, visited


METRICS = [
    {"MetricName": "eval:loss", "Value": 0.42, "Timestamp": "2026-11-24T10:50:00Z"},
    {"MetricName": "eval:accuracy", "Value": 0.91, "Timestamp": "2026-11-24T10:50:00Z"},
]


def _trained(_: Any) -> dict[str, Any]:
    return {
        "ModelArtifacts": {"S3ModelArtifacts": "s3://analytics/models/mlbp-1/output/model.tar.gz"},
        "TrainingTimeInSeconds": 3120,
        "BillableTimeInSeconds": 1040,
        "FinalMetricDataList": METRICS,
    }


def _capacity_error(_: Any) -> Any:
    raise TaskError("SageMaker.AmazonSageMakerException", "Insufficient capacity for ml.g5.2xlarge")


def test_a_successful_run_is_recorded_with_its_metrics_model_and_times(
    recording: dict[str, Any], dynamodb: Any
) -> None:
    status, visited = _execute(
        recording["definition"], dynamodb, "mlbp-1", "2026-11-24T10:00:00Z", _trained
    )
    assert (status, visited) == ("SUCCEEDED", ["Train", "RecordSucceeded", "Done"])
    item = dynamodb.get_item(TableName="results", Key={"job_name": {"S": "mlbp-1"}})["Item"]
    assert item == {
        "job_name": {"S": "mlbp-1"},
        "pipeline": {"S": "mlbp-dev-training"},
        "execution": {
            "S": "arn:aws:states:eu-west-1:111122223333:execution:mlbp-dev-training:mlbp-1"
        },
        "status": {"S": "SUCCEEDED"},
        "started_at": {"S": "2026-11-24T10:00:00Z"},
        "finished_at": {"S": "2026-11-24T11:00:00Z"},
        "model_artifact": {"S": "s3://analytics/models/mlbp-1/output/model.tar.gz"},
        "metrics": {"S": json.dumps(METRICS)},
        "training_seconds": {"N": "3120"},
        "billable_seconds": {"N": "1040"},
    }
    assert json.loads(item["metrics"]["S"]) == METRICS


def test_a_failed_run_is_recorded_with_its_error_and_the_execution_still_fails(
    recording: dict[str, Any], dynamodb: Any
) -> None:
    status, visited = _execute(
        recording["definition"], dynamodb, "mlbp-2", "2026-11-24T12:00:00Z", _capacity_error
    )
    assert (status, visited) == ("FAILED", ["Train", "RecordFailed", "Failed"])
    item = dynamodb.get_item(TableName="results", Key={"job_name": {"S": "mlbp-2"}})["Item"]
    assert {k: v["S"] for k, v in item.items()} == {
        "job_name": "mlbp-2",
        "pipeline": "mlbp-dev-training",
        "execution": "arn:aws:states:eu-west-1:111122223333:execution:mlbp-dev-training:mlbp-2",
        "status": "FAILED",
        "started_at": "2026-11-24T12:00:00Z",
        "finished_at": "2026-11-24T12:00:00Z",
        "error": "SageMaker.AmazonSageMakerException",
        "cause": "Insufficient capacity for ml.g5.2xlarge",
    }


def test_past_trainings_are_listed_by_pipeline_newest_first(
    recording: dict[str, Any], dynamodb: Any
) -> None:
    for job, started, train in (
        ("mlbp-a", "2026-11-22T10:00:00Z", _trained),
        ("mlbp-b", "2026-11-23T10:00:00Z", _capacity_error),
        ("mlbp-c", "2026-11-24T10:00:00Z", _trained),
    ):
        _execute(recording["definition"], dynamodb, job, started, train)
    page = dynamodb.query(
        TableName="results",
        IndexName=BY_PIPELINE_INDEX,
        KeyConditionExpression="pipeline = :p",
        ExpressionAttributeValues={":p": {"S": "mlbp-dev-training"}},
        ScanIndexForward=False,
    )
    assert [(i["job_name"]["S"], i["status"]["S"]) for i in page["Items"]] == [
        ("mlbp-c", "SUCCEEDED"),
        ("mlbp-b", "FAILED"),
        ("mlbp-a", "SUCCEEDED"),
    ]


def test_recording_passes_the_state_through_and_retries_throttling(
    recording: dict[str, Any],
) -> None:
    states = recording["definition"]["States"]
    for name in ("RecordSucceeded", "RecordFailed"):
        state = states[name]
        assert state["Resource"].endswith(":states:::dynamodb:putItem")
        assert state["ResultPath"] is None  # the failure path still has $.error to notify
        [retry] = state["Retry"]
        assert retry["ErrorEquals"] == list(RETRYABLE_ERRORS)
        assert retry["MaxAttempts"] == 3


def test_grant_record_runs_is_exactly_putting_items_with_the_key() -> None:
    stack, results, role, _ = _recording_app()
    # A plain role: the grant is a customer-managed policy attached to it, not inline.
    policy = stack.resolve(role.node.find_child("MlbpGrantsPolicy").document)
    statements = policy["Statement"]
    table_arn = stack.resolve(results.table.table_arn)
    key_arn = stack.resolve(results.key.key_arn)
    grant_statements = [s for s in statements if s.get("Resource") in (table_arn, key_arn)]
    assert {
        "Action": "dynamodb:PutItem",
        "Effect": "Allow",
        "Resource": table_arn,
    } in grant_statements
    assert {
        "Action": sorted(KEY_WRITE_ACTIONS),
        "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}},
        "Effect": "Allow",
        "Resource": key_arn,
    } in grant_statements
    # Nothing but puts on the table: no reads, deletes or updates.
    table_actions = {
        a
        for s in statements
        if s.get("Resource") == table_arn
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert table_actions == {"dynamodb:PutItem"}


# ------------------------------------------------------------------------------ validation


def test_invalid_props_are_reported_together() -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(ValueError) as error:
        ResultsTable(stack, "Results", table_name="x", recovery_period_days=36)
    message = str(error.value)
    assert message.startswith("ResultsTable Bad/Results: invalid props:")
    assert "table_name='x': 3-255 characters" in message
    assert "recovery_period_days=36: 1 to 35 days" in message


def test_invalid_run_paths_are_reported_together() -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    results = ResultsTable(stack, "Results")
    with pytest.raises(ValueError) as error:
        results.record_training_run(
            stack,
            paths=TrainingRunPaths(job_name="run.name", metrics="$..x", error="$"),
            id_prefix="9record",
        )
    message = str(error.value)
    for expected in (
        "paths.job_name='run.name': a JSONPath",
        "paths.metrics='$..x': a JSONPath",
        "paths.error='$': a JSONPath",
        "id_prefix='9record': a construct id prefix",
    ):
        assert expected in message


def test_optional_run_attributes_can_be_left_out() -> None:
    stack = cdk.Stack(cdk.App(), "Minimal")
    results = ResultsTable(stack, "Results")
    records = results.record_training_run(
        stack,
        paths=TrainingRunPaths(metrics=None, training_seconds=None, billable_seconds=None),
        id_prefix="Log",
    )
    item = stack.resolve(records.succeeded.to_state_json())["Parameters"]["Item"]
    assert "metrics" not in item and "training_seconds" not in item
    assert records.failed.node.id == "LogFailed"
