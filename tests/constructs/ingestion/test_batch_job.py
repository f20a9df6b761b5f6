"""BatchJob: Fargate in the private subnets with no public IP, the image from props pulled
from its one repository, a job role scoped to one prefix of one zone, encrypted logs,
retries on infrastructure only, the schedule and the ``.sync`` state machine (run by the
ASL interpreter), and the interface endpoints the Ingestion stack adds for it."""

from __future__ import annotations

import json
from typing import Any

from tests.asl_sim import TaskError, run
from tests.conftest import Synthesized
from tests.constructs.ingestion.helpers import (
    actions,
    by_sid,
    definition,
    one,
    role_statements,
    text,
)


def _job(synth: Synthesized, stack: str, prefix: str) -> dict[str, Any]:
    return one(synth, stack, "AWS::Batch::JobDefinition", prefix)[1]["Properties"]


def test_the_compute_environment_is_fargate_in_the_private_subnets(
    sandbox_project: Synthesized,
) -> None:
    _, compute = one(sandbox_project, "Ingestion", "AWS::Batch::ComputeEnvironment")
    resources = compute["Properties"]["ComputeResources"]
    assert resources["Type"] == "FARGATE" and resources["MaxvCpus"] == 16
    assert "PrivateSubnet" in text(resources["Subnets"])
    [group] = resources["SecurityGroupIds"]
    group_id = group["Fn::GetAtt"][0]
    sg = sandbox_project.resources("Ingestion", "AWS::EC2::SecurityGroup")[group_id]["Properties"]
    assert "SecurityGroupIngress" not in sg
    assert sg["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to the VPC's endpoints (ECR, S3, logs)",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    _, queue = one(sandbox_project, "Ingestion", "AWS::Batch::JobQueue")
    [order] = queue["Properties"]["ComputeEnvironmentOrder"]
    assert "BatchCompute" in text(order["ComputeEnvironment"])


def test_the_job_runs_the_given_image_as_a_non_root_user_without_a_public_ip(
    sandbox_project: Synthesized,
) -> None:
    job = _job(sandbox_project, "Ingestion", "Batch")
    assert job["PlatformCapabilities"] == ["FARGATE"]
    container = job["ContainerProperties"]
    assert text(container["Image"]) == text(
        {
            "Fn::Join": [
                "",
                ["123456789012.dkr.ecr.us-east-1.", {"Ref": "AWS::URLSuffix"}, "/scorer:1.4.2"],
            ]
        }
    )
    assert container["NetworkConfiguration"] == {"AssignPublicIp": "DISABLED"}
    assert container["ReadonlyRootFilesystem"] is True and container["User"] == "1000"
    assert container["ResourceRequirements"] == [
        {"Type": "MEMORY", "Value": "2048"},
        {"Type": "VCPU", "Value": "1"},
    ]
    assert {v["Name"]: v["Value"] for v in container["Environment"]}["LAKE_PREFIX"] == "batch/jobs"
    [volume] = container["Volumes"]
    assert container["MountPoints"] == [{"ContainerPath": "/tmp", "SourceVolume": volume["Name"]}]
    log = container["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    log_group = log["Options"]["awslogs-group"]["Ref"]
    group = sandbox_project.resources("Ingestion", "AWS::Logs::LogGroup")[log_group]
    assert "LakeKey" in text(group["Properties"]["KmsKeyId"])
    # Retried when the infrastructure failed, never because the job's own code exited badly.
    assert job["RetryStrategy"] == {
        "Attempts": 2,
        "EvaluateOnExit": [
            {"Action": "RETRY", "OnReason": "CannotPullContainerError:*"},
            {"Action": "RETRY", "OnStatusReason": "Host EC2*"},
            {"Action": "EXIT", "OnReason": "*"},
        ],
    }
    assert job["Timeout"] == {"AttemptDurationSeconds": 3600}


def test_the_execution_role_pulls_from_that_repository_only(sandbox_project: Synthesized) -> None:
    statements = role_statements(sandbox_project, "Ingestion", "BatchExecutionRole")
    pull = [s for s in statements if "ecr:BatchGetImage" in text(s["Action"])]
    assert len(pull) == 1
    assert text(pull[0]["Resource"]).endswith(':ecr:us-east-1:123456789012:repository/scorer"]]}')
    assert actions(statements) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_the_job_role_reaches_one_prefix_of_one_zone(sandbox_project: Synthesized) -> None:
    statements = by_sid(role_statements(sandbox_project, "Ingestion", "BatchJobRole"))
    assert set(statements) == {
        "ListItsPrefix",
        "ReadAndWriteItsPrefix",
        "UseTheLakeKeyForItsPrefix",
    }
    listing = statements["ListItsPrefix"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["batch/jobs", "batch/jobs/*"]}}
    assert "RawBucket" in text(listing["Resource"])
    objects = statements["ReadAndWriteItsPrefix"]
    assert sorted(objects["Action"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert text(objects["Resource"]).endswith('/batch/jobs/*"]]}')
    key = statements["UseTheLakeKeyForItsPrefix"]
    assert text(key["Condition"]["StringLike"]).count("/batch/jobs/*") == 1


CONTEXT = {
    "Execution": {
        "Id": "arn:aws:states:us-east-1:000000000000:execution:batch:run-7",
        "Name": "run-7",
        "StartTime": "2026-11-24T02:00:00.456Z",
        "Input": {"source": "schedule"},
    },
    "State": {"EnteredTime": "2026-11-24T02:41:13.002Z"},
    "StateMachine": {"Name": "batch"},
}
JOB_FAILED = json.dumps(
    {"Status": "FAILED", "StatusReason": "Essential container in task exited", "JobId": "j-1"}
)


def _machine(synth: Synthesized) -> dict[str, Any]:
    return definition(one(synth, "Ingestion", "AWS::StepFunctions::StateMachine", "Batch")[1])


def _failing(error: str, cause: str) -> Any:
    def run_the_job(_: Any) -> Any:
        raise TaskError(error, cause)

    return run_the_job


def test_the_state_machine_submits_the_job_waits_and_alerts_on_failure(
    sandbox_project: Synthesized,
) -> None:
    asl = _machine(sandbox_project)
    submit = asl["States"]["RunTheJob"]
    assert submit["Resource"].endswith(":states:::batch:submitJob.sync")
    assert submit["Parameters"]["JobName"] == "mlbp-sbx-batch"
    status, path, _ = run(asl, {"RunTheJob": lambda _: {"JobId": "j", "Status": "SUCCEEDED"}})
    assert (status, path) == ("SUCCEEDED", ["RunTheJob", "Done"])

    tasks = {
        "RunTheJob": _failing("States.TaskFailed", JOB_FAILED),
        "KeepTheError": lambda _: {},
        "NotifyFailure": lambda _: {},
    }
    status, path, _ = run(asl, tasks, {"source": "schedule"}, context=CONTEXT)
    assert status == "FAILED"  # the execution stays failed: the Failed alarm fires
    assert path == ["RunTheJob", "DescribeTheFailure", "KeepTheError", "NotifyFailure", "Failed"]
    assert asl["States"]["Failed"] == {
        "Type": "Fail",
        "Error": "BatchJobFailed",
        "Cause": "A step failed: see the execution",
    }
    [retry] = submit["Retry"]
    assert "States.TaskFailed" not in retry["ErrorEquals"]  # a failed job is not resubmitted
    _, schedule = one(sandbox_project, "Ingestion", "AWS::Scheduler::Schedule", "Batch")
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 2 * * ? *)"


def test_a_failed_run_is_kept_under_exactly_the_error_prefix_with_its_reason(
    sandbox_project: Synthesized,
) -> None:
    asl = _machine(sandbox_project)
    kept: list[Any] = []
    tasks = {
        "RunTheJob": _failing("States.TaskFailed", JOB_FAILED),
        "KeepTheError": lambda p: kept.append(p) or {},
        "NotifyFailure": lambda _: {},
    }
    status, _, _ = run(asl, tasks, {"source": "schedule"}, context=CONTEXT)
    assert status == "FAILED"
    [record] = kept
    # The run's start date and the execution's name, under errors/<the job's prefix>/.
    assert record["Key"] == "errors/batch/jobs/year=2026/month=11/day=24/run-7.json"
    assert record["ContentType"] == "application/json"
    assert json.loads(record["Body"]) == {
        "jobName": "mlbp-sbx-batch",
        "execution": CONTEXT["Execution"]["Id"],
        "executionName": "run-7",
        "executionInput": {"source": "schedule"},
        "startedAt": "2026-11-24T02:00:00.456Z",
        "failedAt": "2026-11-24T02:41:13.002Z",
        "error": {"Error": "States.TaskFailed", "Cause": JOB_FAILED},
    }
    keep = asl["States"]["KeepTheError"]
    assert keep["Resource"].endswith(":states:::aws-sdk:s3:putObject")
    assert keep["ResultPath"] is None
    # Into the job's own zone, the bucket the job writes its data to.
    job = _job(sandbox_project, "Ingestion", "Batch")["ContainerProperties"]
    [bucket] = [v["Value"] for v in job["Environment"] if v["Name"] == "LAKE_BUCKET"]
    machine = one(sandbox_project, "Ingestion", "AWS::StepFunctions::StateMachine", "Batch")[1]
    assert text(bucket) in text(machine["Properties"]["DefinitionString"])


def test_the_alert_goes_out_and_the_run_fails_even_when_nothing_can_be_recorded(
    sandbox_project: Synthesized,
) -> None:
    asl = _machine(sandbox_project)
    calls = {"KeepTheError": 0, "NotifyFailure": 0}

    def down(_: Any) -> Any:
        calls["KeepTheError"] += 1
        raise TaskError("S3.S3Exception", "unavailable")

    def notify(_: Any) -> Any:
        calls["NotifyFailure"] += 1
        return {}

    tasks = {
        "RunTheJob": _failing("Batch.AWSBatchException", "queue disabled"),
        "KeepTheError": down,
        "NotifyFailure": notify,
    }
    status, path, output = run(asl, tasks, {}, context=CONTEXT)
    assert status == "FAILED"
    assert path[-2:] == ["NotifyFailure", "Failed"]
    assert calls == {"KeepTheError": 3, "NotifyFailure": 1}  # tried, retried twice; alerted
    assert output["recordError"]["Error"] == "S3.S3Exception"
    # The record takes the caught error whole: a field it lacks (an error without a Cause)
    # cannot fail the execution before the record and the alert.
    paths = [v for k, v in asl["States"]["DescribeTheFailure"]["Parameters"].items() if "$" in k]
    assert [p for p in paths if p.startswith("$.")] == ["$.error"]


def test_the_state_machine_role_may_put_error_records_under_its_prefix_only(
    sandbox_project: Synthesized,
) -> None:
    _, role = one(sandbox_project, "Ingestion", "AWS::IAM::Role", "BatchMachineRole")
    # Step Functions writes from outside the VPC: the role has the lake's exempt name prefix.
    assert role["Properties"]["RoleName"].startswith("mlbp-sbx-svc-batch-")
    statements = role_statements(sandbox_project, "Ingestion", "BatchMachineRole")
    s3 = [s for s in statements if "s3:" in text(s["Action"])]
    assert len(s3) == 1 and s3[0]["Action"] == "s3:PutObject"
    resource = text(s3[0]["Resource"])
    assert "LakeRawBucket" in resource and resource.endswith('/errors/batch/jobs/*"]]}')
    key = by_sid(statements)["EncryptTheErrorRecords"]
    assert key["Action"] == "kms:GenerateDataKey"
    assert "LakeKey" in text(key["Resource"])
    assert "s3." in text(key["Condition"]["StringEquals"]["kms:ViaService"])
    contexts = key["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    # The bucket itself (S3 Bucket Keys' encryption context) or an object under the prefix.
    bucket, objects = contexts
    assert "LakeRawBucket" in text(bucket) and "Fn::Join" not in text(bucket)
    assert text(objects).endswith('/errors/batch/jobs/*"]]}')
    kms = [s.get("Sid") for s in statements if "kms:" in text(s["Action"])]
    assert sorted(kms) == ["EncryptTheErrorRecords", "PublishToTheEncryptedTopic"]
    assert not any(
        a in ("*", "s3:*", "kms:*") for s in statements for a in text(s["Action"]).split('"')
    )


def test_a_lake_in_the_same_stack_admits_the_state_machine_role_by_arn(
    construct_variants: Synthesized,
) -> None:
    stack = "IngestionVariants"
    role_id, role = one(construct_variants, stack, "AWS::IAM::Role", "ScorerMachineRole")
    assert "RoleName" not in role["Properties"]
    policies = construct_variants.resources(stack, "AWS::S3::BucketPolicy")
    raw = [p for k, p in policies.items() if "Raw" in k]
    assert len(raw) == 1 and role_id in text(raw[0]["Properties"]["PolicyDocument"])


def test_the_stack_owns_the_endpoints_fargate_needs_in_isolated_subnets(
    sandbox_project: Synthesized, project: Synthesized
) -> None:
    endpoints = sandbox_project.resources("Ingestion", "AWS::EC2::VPCEndpoint")
    services = sorted(text(e["Properties"]["ServiceName"]) for e in endpoints.values())
    assert len(services) == 4
    for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager"):
        assert sum(f".{service}" in s for s in services) == 1, service
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in endpoints.values())
    assert project.resources("Ingestion", "AWS::EC2::VPCEndpoint") == {}  # none without opt-ins


def test_the_variant_runs_on_spot_with_its_command_and_no_schedule(
    construct_variants: Synthesized,
) -> None:
    stack = "IngestionVariants"
    _, compute = one(construct_variants, stack, "AWS::Batch::ComputeEnvironment")
    assert compute["Properties"]["ComputeResources"]["Type"] == "FARGATE_SPOT"
    container = _job(construct_variants, stack, "Scorer")["ContainerProperties"]
    assert container["Command"] == ["python", "-m", "scorer", "--date", "today"]
    assert container["User"] == "1001:1001"
    assert container["EphemeralStorage"] == {"SizeInGiB": 50}
    assert text(container["Image"]).endswith("/team/scorer@sha256:" + "ab" * 32 + '"]]}')
    assert construct_variants.resources(stack, "AWS::Scheduler::Schedule").keys() == {
        k
        for k in construct_variants.resources(stack, "AWS::Scheduler::Schedule")
        if "Features" in k
    }
