"""BatchJob: Fargate in the private subnets with no public IP, the image from props pulled
from its one repository, a job role scoped to one prefix of one zone, encrypted logs,
retries on infrastructure only, the schedule and the ``.sync`` state machine (run by the
ASL interpreter), and the interface endpoints the Ingestion stack adds for it."""

from __future__ import annotations

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


def test_the_state_machine_submits_the_job_waits_and_alerts_on_failure(
    sandbox_project: Synthesized,
) -> None:
    _, machine = one(sandbox_project, "Ingestion", "AWS::StepFunctions::StateMachine", "Batch")
    asl = definition(machine)
    submit = asl["States"]["RunTheJob"]
    assert submit["Resource"].endswith(":states:::batch:submitJob.sync")
    assert submit["Parameters"]["JobName"] == "mlbp-sbx-batch"
    status, path, _ = run(asl, {"RunTheJob": lambda _: {"JobId": "j", "Status": "SUCCEEDED"}})
    assert (status, path) == ("SUCCEEDED", ["RunTheJob", "Done"])

    def job_failed(_: Any) -> Any:
        raise TaskError("States.TaskFailed", '{"Status": "FAILED", "StatusReason": "exit 3"}')

    status, path, output = run(
        asl, {"RunTheJob": job_failed, "NotifyFailure": lambda _: {}}, {"source": "schedule"}
    )
    assert status == "FAILED"
    assert path == ["RunTheJob", "RecordFailure", "NotifyFailure", "Failed"]
    assert output["failure"]["Error"] == "States.TaskFailed"
    [retry] = submit["Retry"]
    assert "States.TaskFailed" not in retry["ErrorEquals"]  # a failed job is not resubmitted
    _, schedule = one(sandbox_project, "Ingestion", "AWS::Scheduler::Schedule", "Batch")
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 2 * * ? *)"


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
