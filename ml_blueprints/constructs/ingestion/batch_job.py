"""BatchJob: a containerized job that is not ETL, run by AWS Batch on Fargate.

The course notes' AWS Batch: containerized work (a scraper, a model-scoring run, a file
converter) scheduled by events and orchestrated by Step Functions. The job runs on a Fargate
compute environment in the private subnets (no public IP), from an ECR image given by the
caller (nothing is built here), with a role that reaches one prefix of one lake zone and
nothing else. EventBridge Scheduler starts a state machine whose task submits the job and
waits for it (``.sync``); other workflows can submit it the same way with
:meth:`BatchJob.submit_task`. A failed run leaves a JSON record with its reason under
``errors/<prefix>/`` of the zone, is alerted, and ends failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_blueprints.compliance import acknowledge, acknowledge_wildcard_resources
from ml_blueprints.constructs.ingestion.common import (
    SCHEDULE_ALLOWED,
    MonitoredStateMachine,
    StateMachineSchedule,
    error_record,
    failure_path,
    grant_error_record_encryption,
    key_use_through_s3,
    require_prefix,
    valid_schedule,
)
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props

#: A private ECR image: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>`` with a
#: ``:tag`` or an ``@sha256:`` digest. The isolated subnets reach ECR (through interface
#: endpoints) and no other registry.
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d)\.amazonaws\.com"
    r"(\.cn)?/(?P<repository>[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[a-f0-9]{64}))$"
)
#: Interface endpoints a Fargate job in isolated subnets needs: the ECR API and registry (the
#: image's layers come from S3, through the gateway endpoint) and CloudWatch Logs.
REQUIRED_ENDPOINTS: tuple[str, ...] = ("ecr.api", "ecr.dkr", "logs")
#: Fargate's valid (vCPU, memory in MiB) pairs.
FARGATE_MEMORY_MIB: dict[float, tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: tuple(range(1024, 4097, 1024)),
    1: tuple(range(2048, 8193, 1024)),
    2: tuple(range(4096, 16385, 1024)),
    4: tuple(range(8192, 30721, 1024)),
    8: tuple(range(16384, 61441, 4096)),
    16: tuple(range(32768, 122881, 8192)),
}
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BatchJob(Construct):
    """An AWS Batch job on Fargate, its queue, its schedule and its state machine.

    Defaults:

    - ``image``: required, a private ECR image URI (tag or digest); the execution role may
      pull from that repository only. ``command``: the image's own. ``environment``: none
      besides ``LAKE_BUCKET`` and ``LAKE_PREFIX`` (the job's place in the lake); secrets do
      not belong here.
    - ``vcpus`` 1 and ``memory_mib`` 2048 (a valid Fargate pair), ``max_vcpus`` 16 for the
      compute environment (on-demand Fargate; ``spot`` True for Fargate Spot), in
      ``network``'s private subnets with no public IP and a security group allowing HTTPS
      out only; the container runs as ``user`` ``"1000"`` with a read-only root file
      system; ``/tmp`` is scratch space on ``ephemeral_storage_gib`` 21 (Fargate's
      minimum) of task storage.
    - The job role may list ``prefix`` of ``zone`` (``raw``) and read and write objects
      under it, with the lake key through S3; nothing else. ``prefix``:
      ``batch/<id in lower case>``.
    - Retries: ``attempts`` 2, retried only when the host or Fargate failed (spot
      reclaimed, ``CannotPullContainer``...), not when the job's own code exits non-zero;
      ``timeout_minutes`` 60 per attempt.
    - Logs: the ``awslogs`` driver to a log group encrypted with the lake key, kept
      ``log_retention_days`` (365).
    - ``schedule``: ``cron(0 2 * * ? *)`` (daily, 02:00 UTC) starts the state machine with
      EventBridge Scheduler (``None`` for no schedule). The state machine submits the job
      and waits for it (``.sync``, retried twice on Batch's own errors). When the job (or
      submitting it) fails, a JSON record of the failure (``jobName``, ``execution`` and
      ``executionName``, ``executionInput``, ``startedAt``, ``failedAt`` and ``error``:
      Step Functions' ``Error`` and ``Cause``, for a failed job Batch's description of it
      with its status reason) is written to
      ``errors/<prefix>/year=YYYY/month=MM/day=DD/<execution name>.json`` of the zone
      (the run's start date), the failure is published to ``alerts`` (a new
      :class:`AlertTopic` when not given; also when the record cannot be written), and the
      execution ends failed (``BatchJobFailed``); alarms on failed executions and dropped
      scheduled starts notify it.
    - The state machine's role (named ``role_name``, or from the lake's exempt prefix when
      the lake is in another stack: Step Functions writes the error record from outside
      the VPC) may submit the job to its queue, put objects under ``errors/<prefix>/`` only
      (``kms:GenerateDataKey`` on the lake key through S3 for them), publish to the alert
      topic, and log and trace.

    The private subnets need the interface endpoints :data:`REQUIRED_ENDPOINTS` (added with
    ``network.add_interface_endpoints``; the Ingestion stack does it) or NAT.

    Attributes: ``compute_environment``, ``job_queue``, ``job_definition``, ``job_role``,
    ``execution_role``, ``log_group``, ``security_group``, ``state_machine``, ``role`` (the
    state machine's), ``schedule`` (``None`` without one), ``data_prefix``,
    ``error_prefix``, ``alerts``, ``alarms``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        image: str,
        lake: SecureDataLake,
        network: PrivateNetwork,
        zone: str = "raw",
        prefix: str | None = None,
        command: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        vcpus: float = 1,
        memory_mib: int = 2048,
        max_vcpus: int = 16,
        spot: bool | None = None,
        user: str = "1000",
        ephemeral_storage_gib: int = 21,
        attempts: int = 2,
        timeout_minutes: int = 60,
        schedule: str | None = "cron(0 2 * * ? *)",
        job_name: str | None = None,
        alerts: AlertTopic | None = None,
        role_name: str | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        spot = spot if spot is not None else False
        prefix = prefix if prefix is not None else "batch/" + re.sub(r"[^a-z0-9]+", "-", id.lower())
        environment = dict(environment or {})
        image_match = _validate(
            self.node.path,
            image=image,
            lake=lake,
            zone=zone,
            prefix=prefix,
            command=command,
            environment=environment,
            vcpus=vcpus,
            memory_mib=memory_mib,
            max_vcpus=max_vcpus,
            user=user,
            ephemeral_storage_gib=ephemeral_storage_gib,
            attempts=attempts,
            timeout_minutes=timeout_minutes,
            schedule=schedule,
            job_name=job_name,
            log_retention_days=log_retention_days,
        )
        role_name = lake.outside_role_name(self, "batch", role_name, owner="BatchJob")
        stack = cdk.Stack.of(self)
        bucket = lake.bucket(zone)
        self.data_prefix = prefix
        self.error_prefix = f"errors/{prefix}"
        self.alerts = alerts or AlertTopic(self, "Alerts", removal_policy=removal_policy)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description=f"Batch job {self.node.path}: HTTPS out only (ECR, S3, logs)",
            allow_all_outbound=False,
        )
        # S3 (image layers, the lake) is reached through the gateway endpoint, whose
        # addresses are outside the VPC's CIDR; the isolated subnets route nowhere else.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the VPC's endpoints (ECR, S3, logs)"
        )

        self.compute_environment = batch.FargateComputeEnvironment(
            self,
            "Compute",
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[self.security_group],
            maxv_cpus=max_vcpus,
            spot=spot,
        )
        self.job_queue = batch.JobQueue(
            self,
            "Queue",
            priority=1,
            compute_environments=[
                batch.OrderedComputeEnvironment(
                    compute_environment=self.compute_environment, order=1
                )
            ],
        )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=lake.key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        self.execution_role = ManagedPolicyRole(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"Pulls {self.node.path}'s image and writes its logs",
        )
        self.job_role = ManagedPolicyRole(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"The job {self.node.path}: one prefix of the {zone} zone",
        )
        objects = f"{bucket.bucket_arn}/{prefix}/*"
        for statement in (
            iam.PolicyStatement(
                sid="ListItsPrefix",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadAndWriteItsPrefix",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[objects],
            ),
            key_use_through_s3(
                "UseTheLakeKeyForItsPrefix",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                lake.key,
                bucket,
                [objects],
            ),
        ):
            self.job_role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.job_role.grants_policy,  # type: ignore[arg-type]
            [objects],
            "The job reads and writes objects it names at run time; the wildcard is its one "
            "prefix in one lake zone.",
        )

        repository = ecr.Repository.from_repository_attributes(
            self,
            "Repository",
            repository_arn=f"arn:{stack.partition}:ecr:{image_match['region']}:"
            f"{image_match['account']}:repository/{image_match['repository']}",
            repository_name=image_match["repository"],
        )
        container = batch.EcsFargateContainerDefinition(
            self,
            "Container",
            image=ecs.ContainerImage.from_ecr_repository(
                repository, image_match["tag"] or image_match["digest"]
            ),
            cpu=vcpus,
            memory=cdk.Size.mebibytes(memory_mib),
            command=list(command) if command is not None else None,
            environment={
                **environment,
                "LAKE_BUCKET": bucket.bucket_name,
                "LAKE_PREFIX": prefix,
            },
            job_role=self.job_role,
            execution_role=self.execution_role,
            logging=ecs.LogDriver.aws_logs(
                stream_prefix=re.sub(r"[^A-Za-z0-9_-]", "-", id), log_group=self.log_group
            ),
            readonly_root_filesystem=True,
            assign_public_ip=False,
            user=user,
            ephemeral_storage_size=cdk.Size.gibibytes(ephemeral_storage_gib),
            # The root file system is read-only: /tmp is a volume on the task's ephemeral
            # storage, gone when the task ends.
            volumes=[batch.EcsVolume.host(name="scratch", container_path="/tmp")],
            fargate_platform_version=ecs.FargatePlatformVersion.LATEST,
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "JobDefinition",
            container=container,
            retry_attempts=attempts,
            retry_strategies=[
                batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
                batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
                batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_reason="*")),
            ],
            timeout=cdk.Duration.minutes(timeout_minutes),
            propagate_tags=True,
        )
        acknowledge(
            self.execution_role.grants_policy,  # type: ignore[arg-type]
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS documents "
            "Resource '*'); image pulls themselves are limited to the one repository.",
        )

        self.job_name = job_name or re.sub(r"[^a-zA-Z0-9_-]", "-", id)[:100]
        submit = self.submit_task(self, "RunTheJob")
        # The whole error object, not its fields: a path that is absent (an error without a
        # Cause) would fail the execution here, before the record and the alert.
        describe_failure = sfn.Pass(
            self,
            "DescribeTheFailure",
            comment="What failed, when, and why: the error record's body",
            parameters={
                "jobName": self.job_name,
                "execution.$": "$$.Execution.Id",
                "executionName.$": "$$.Execution.Name",
                "executionInput.$": "$$.Execution.Input",
                "startedAt.$": "$$.Execution.StartTime",
                "failedAt.$": "$$.State.EnteredTime",
                "error.$": "$.error",
            },
            result_path="$.failure",
        )
        record = error_record(
            self, "KeepTheError", bucket=bucket, error_prefix=self.error_prefix, body="$.failure"
        )
        describe_failure.next(
            failure_path(
                self, self.alerts, "ml-blueprints batch job failed", "BatchJobFailed", record=record
            )
        )
        submit.add_catch(describe_failure, errors=["States.ALL"], result_path="$.error")
        self.machine = MonitoredStateMachine(
            self,
            "Machine",
            definition=submit.next(sfn.Succeed(self, "Done")),
            description=f"Runs the Batch job {self.node.path} and waits for it",
            alerts=self.alerts,
            key=lake.key,
            timeout=cdk.Duration.minutes(timeout_minutes * (attempts + 1) + 30),
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            role_name=role_name,
        )
        self.state_machine = self.machine.state_machine
        self.role = self.machine.role
        # Step Functions writes the error record from outside the VPC.
        lake.admit_outside_role(self.role)
        grant_error_record_encryption(self.role, bucket, lake.key, self.error_prefix)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            [f"{bucket.bucket_arn}/{self.error_prefix}/*"],
            "Each failed run's record is named after its execution at run time; the wildcard "
            "is this job's error prefix in one zone, and the only action is s3:PutObject.",
        )
        self.schedule: StateMachineSchedule | None = None
        self.alarms = dict(self.machine.alarms)
        if schedule is not None:
            self.schedule = StateMachineSchedule(
                self,
                "Schedule",
                state_machine=self.state_machine,
                expression=schedule,
                description=f"Runs the Batch job {self.node.path}",
                alerts=self.alerts,
                removal_policy=removal_policy,
            )
            self.alarms["ScheduleDropped"] = self.schedule.alarm

    @typed_props
    def submit_task(self, scope: Construct, id: str) -> tasks.BatchSubmitJob:
        """A Step Functions task in ``scope`` that submits this job to its queue and waits
        for it to finish (``.sync``), retried twice on Batch's own errors (not on the job
        failing)."""
        task = tasks.BatchSubmitJob(
            scope,
            id,
            job_name=self.job_name,
            job_queue_arn=self.job_queue.job_queue_arn,
            job_definition_arn=self.job_definition.job_definition_arn,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            # Only fields every finished job has: a selector naming an absent one (StatusReason
            # of a successful job, say) would fail the execution after the job succeeded.
            result_selector={"JobId.$": "$.JobId", "Status.$": "$.Status"},
            result_path="$.job",
        )
        task.add_retry(
            errors=["Batch.AWSBatchException", "Batch.ServerException", "Batch.ClientException"],
            interval=cdk.Duration.seconds(30),
            max_attempts=2,
            backoff_rate=2,
        )
        return task


def _validate(
    path: str,
    *,
    image: str,
    lake: SecureDataLake,
    zone: str,
    prefix: str,
    command: Sequence[str] | None,
    environment: Mapping[str, str],
    vcpus: float,
    memory_mib: int,
    max_vcpus: int,
    user: str,
    ephemeral_storage_gib: int,
    attempts: int,
    timeout_minutes: int,
    schedule: str | None,
    job_name: str | None,
    log_retention_days: int,
) -> dict[str, str]:
    errors = PropErrors(f"BatchJob {path}")
    match = ECR_IMAGE.match(image) if isinstance(image, str) else None
    errors.require(
        match is not None,
        "image",
        image,
        "a private ECR image URI with a tag or digest, e.g. "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/scorer:1.4.2 (the private subnets "
        "reach ECR and no other registry)",
    )
    errors.require(
        zone in lake.zones, "zone", zone, f"one of the lake's zones ({', '.join(lake.zones)})"
    )
    require_prefix(errors, "prefix", prefix)
    if command is not None:
        errors.require(
            not isinstance(command, str)
            and len(command) > 0
            and all(isinstance(c, str) for c in command),
            "command",
            command,
            "a list of strings (the container's command and arguments), or None for the "
            "image's own",
        )
    for name, value in environment.items():
        errors.require(
            bool(_ENV_NAME.match(str(name)))
            and name not in ("LAKE_BUCKET", "LAKE_PREFIX")
            and isinstance(value, str),
            "environment",
            name,
            "variable names of letters, digits and '_' (not starting with a digit) with "
            "string values; LAKE_BUCKET and LAKE_PREFIX are set by the construct",
        )
    memories = FARGATE_MEMORY_MIB.get(vcpus) if not isinstance(vcpus, bool) else None
    if errors.require(
        memories is not None,
        "vcpus",
        vcpus,
        f"one of Fargate's sizes: {', '.join(f'{v:g}' for v in FARGATE_MEMORY_MIB)}",
    ):
        errors.require(
            memory_mib in memories,  # type: ignore[operator]
            "memory_mib",
            memory_mib,
            f"with {vcpus:g} vCPU, one of Fargate's sizes: {memories[0]} to {memories[-1]} "  # type: ignore[index]
            f"MiB in steps of {memories[1] - memories[0] if len(memories) > 1 else 0}",  # type: ignore[index]
        )
    errors.require(
        isinstance(max_vcpus, int)
        and not isinstance(max_vcpus, bool)
        and isinstance(vcpus, int | float)
        and vcpus <= max_vcpus <= 4096,
        "max_vcpus",
        max_vcpus,
        f"a whole number from vcpus ({vcpus}) to 4096",
    )
    errors.require(
        isinstance(user, str) and bool(re.fullmatch(r"[1-9]\d{0,9}(:\d{1,10})?", user)),
        "user",
        user,
        "a numeric uid (or uid:gid) other than 0: the job does not run as root",
    )
    errors.require(
        isinstance(ephemeral_storage_gib, int) and 21 <= ephemeral_storage_gib <= 200,
        "ephemeral_storage_gib",
        ephemeral_storage_gib,
        "21 to 200 GiB (Fargate's range)",
    )
    errors.require(
        isinstance(attempts, int) and not isinstance(attempts, bool) and 1 <= attempts <= 10,
        "attempts",
        attempts,
        "1 to 10 (AWS Batch's range)",
    )
    errors.require(
        isinstance(timeout_minutes, int) and 1 <= timeout_minutes <= 14 * 24 * 60,
        "timeout_minutes",
        timeout_minutes,
        "1 minute to 14 days",
    )
    if schedule is not None:
        errors.require(
            valid_schedule(schedule), "schedule", schedule, SCHEDULE_ALLOWED + " or None"
        )
    if job_name is not None:
        errors.require(
            bool(_NAME.match(job_name)),
            "job_name",
            job_name,
            "1-100 letters, digits, '_' and '-', starting with a letter or digit",
        )
    errors.require(
        log_retention_days in LOG_RETENTION_DAYS,
        "log_retention_days",
        log_retention_days,
        LOG_RETENTION_ALLOWED,
    )
    errors.raise_if_any()
    assert match is not None
    return match.groupdict()
