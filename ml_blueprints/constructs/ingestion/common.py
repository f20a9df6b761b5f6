"""What the ingestion constructs share: key prefixes, schedules, the date path of a run,
the failure path of a state machine and the record it keeps.

Every ingestion construct lands data in one zone of a :class:`SecureDataLake` under a
prefix of its own, partitioned by date (``year=YYYY/month=MM/day=DD``), and keeps what
failed under ``errors/<prefix>/`` with the reason, as the streaming layer does:
DeviceIngestion the messages its rules could not deliver, OnPremisesSync DataSync's report
of the files that failed, TableExport and BatchJob a JSON record of each failed run
(:func:`error_record`).

One exception: DatabaseReplication. DMS keeps no failed rows anywhere: an S3 target has no
control tables (``awsdms_apply_exceptions`` exists on database targets only), and DMS
writes nothing under ``errors/``. What it does with a row it cannot convert or apply, and
where the reason goes (the replication's CloudWatch log group), is stated exactly in
:class:`DatabaseReplication` and :data:`REPLICATION_SETTINGS
<ml_blueprints.constructs.ingestion.database_replication.REPLICATION_SETTINGS>`.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_blueprints.compliance import acknowledge, acknowledge_wildcard_resources
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    is_aws_cron,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.validation import PropErrors, typed_props

#: A key prefix: lowercase letters, digits, '_', '-' and '/', no leading or trailing '/'.
PREFIX = re.compile(r"^[a-z0-9][a-z0-9_\-/]*[a-z0-9]$|^[a-z0-9]$")
PREFIX_ALLOWED = (
    "lowercase letters, digits, '_', '-' and '/', not starting or ending with '/', no '//', "
    "and not under 'errors/' (where failures go)"
)
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
SCHEDULE_ALLOWED = (
    "an EventBridge Scheduler expression: 'rate(<n> minutes|hours|days)' or "
    "'cron(minutes hours day-of-month month day-of-week year)', e.g. 'cron(0 3 * * ? *)'"
)


def valid_prefix(prefix: object) -> bool:
    """Whether ``prefix`` is a data prefix (see :data:`PREFIX_ALLOWED`)."""
    return (
        isinstance(prefix, str)
        and bool(PREFIX.match(prefix))
        and "//" not in prefix
        and prefix.split("/")[0] != "errors"
    )


def require_prefix(errors: PropErrors, prop: str, prefix: object) -> bool:
    return errors.require(valid_prefix(prefix), prop, prefix, PREFIX_ALLOWED)


def rate_minutes(expression: str) -> int | None:
    """The period of a ``rate(...)`` expression in minutes, ``None`` for anything else."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[match.group(2)[0]]


def valid_schedule(expression: object, *, min_minutes: int = 1) -> bool:
    """Whether ``expression`` is a ``rate(...)`` of at least ``min_minutes`` (singular unit
    for 1, plural otherwise, as Scheduler requires) or an AWS cron expression."""
    if not isinstance(expression, str):
        return False
    match = _RATE.match(expression.strip())
    if match is not None:
        count, unit = int(match.group(1)), match.group(2)
        return (
            count >= 1
            and (count == 1) != unit.endswith("s")
            and (rate_minutes(expression) or 0) >= min_minutes
        )
    return is_aws_cron(expression)


def run_date_parts() -> tuple[str, str, str]:
    """``(year, month, day)`` of the execution's start (UTC) as States intrinsic
    expressions: ``$$.Execution.StartTime`` is ``2026-11-24T10:00:00.123Z``."""
    start = "$$.Execution.StartTime"
    year = f"States.ArrayGetItem(States.StringSplit({start}, '-'), 0)"
    month = f"States.ArrayGetItem(States.StringSplit({start}, '-'), 1)"
    day = (
        f"States.ArrayGetItem(States.StringSplit("
        f"States.ArrayGetItem(States.StringSplit({start}, '-'), 2), 'T'), 0)"
    )
    return year, month, day


def dated_key(prefix: str, leaf: str | None = None) -> str:
    """A ``States.Format`` expression for ``<prefix>/year=YYYY/month=MM/day=DD`` of the
    run's start date, with ``/<leaf>`` appended when given (``leaf`` is itself an intrinsic
    argument, e.g. ``$$.Execution.Name``)."""
    year, month, day = run_date_parts()
    template = f"{prefix}/year={{}}/month={{}}/day={{}}"
    args = [year, month, day]
    if leaf is not None:
        template += "/{}.json"
        args.append(leaf)
    return f"States.Format('{template}', {', '.join(args)})"


class StateMachineSchedule(Construct):
    """An EventBridge Scheduler schedule that starts ``state_machine``, in a schedule group
    of its own, and an alarm when a start was dropped after all retries.

    Defaults: retried for up to 24 hours (185 attempts, Scheduler's maximum), flexible time
    window off, the execution input ``{"source": "schedule"}``. The schedule's role is a
    :class:`ManagedPolicyRole` only Scheduler of this account can assume, allowed to start
    that one state machine. Attributes: ``schedule``, ``group``, ``role``, ``alarm``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        state_machine: sfn.IStateMachine,
        expression: str,
        description: str,
        alerts: AlertTopic,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors(f"StateMachineSchedule {self.node.path}")
        errors.require(valid_schedule(expression), "expression", expression, SCHEDULE_ALLOWED)
        errors.raise_if_any()
        stack = cdk.Stack.of(self)
        self.group = scheduler.ScheduleGroup(self, "Group", removal_policy=removal_policy)
        self.role = ManagedPolicyRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"EventBridge Scheduler: starts {self.node.path}'s state machine",
        )
        text = expression.strip()
        rate = rate_minutes(text)
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.expression(text),
            schedule_group=self.group,
            description=description,
            target=scheduler_targets.StepFunctionsStartExecution(
                state_machine,
                role=self.role,
                input=scheduler.ScheduleTargetInput.from_object({"source": "schedule"}),
                retry_attempts=185,
                max_event_age=cdk.Duration.hours(24)
                if rate is None or rate >= 24 * 60
                else cdk.Duration.minutes(max(rate, 1)),
            ),
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "DroppedAlarm",
            metric=self.group.metric_dropped(statistic="Sum", period=cdk.Duration.minutes(5)),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{self.node.path}: a scheduled start was dropped after all "
            "retries: that run did not happen",
        )
        alerts.notify_on(self.alarm)


class MonitoredStateMachine(Construct):
    """A state machine as the platform runs them: its own :class:`ManagedPolicyRole` (only
    Step Functions of this account can assume it), logging at level ALL with execution
    data to a log group encrypted with ``key``, X-Ray tracing, a timeout, and alarms on
    failed and on timed-out executions (the backstop for what the definition's own failure
    path cannot catch). A definition with Batch tasks (such as :meth:`BatchJob.submit_task`)
    gets CDK's grant of ``batch:SubmitJob`` on job definitions acknowledged with its reason,
    so your own workflow around the platform's tasks stays compliant with nothing to write.
    Attributes: ``state_machine``, ``role``, ``log_group``, ``alarms``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        definition: sfn.IChainable,
        description: str,
        alerts: AlertTopic,
        key: kms.IKey,
        timeout: cdk.Duration,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors(f"MonitoredStateMachine {self.node.path}")
        errors.require(
            log_retention_days in LOG_RETENTION,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        errors.require(
            isinstance(timeout, cdk.Duration) and 60 <= timeout.to_seconds() <= 365 * 24 * 3600,
            "timeout",
            timeout,
            "a Duration from 1 minute to 1 year (Step Functions' limit for a standard workflow)",
        )
        errors.raise_if_any()
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        self.role = ManagedPolicyRole(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("states.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=description,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            role=self.role,
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            removal_policy=removal_policy,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishToTheEncryptedTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[alerts.key.key_arn],
            )
        )
        self.state_machine.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]
        if any(
            isinstance(state, tasks.BatchSubmitJob)
            for state in sfn.State.find_reachable_states(definition.start_state)
        ):
            acknowledge_wildcard_resources(
                self.role.grants_policy,  # type: ignore[arg-type]
                [stack.format_arn(service="batch", resource="job-definition", resource_name="*")],
                "Step Functions' Batch integration submits by job definition revision, whose ARN "
                "ends in a number Batch assigns: CDK grants batch:SubmitJob on job definitions, "
                "with each task's queue fixed.",
            )
        acknowledge(
            self.role.grants_policy,  # type: ignore[arg-type]
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions' log delivery (logs:*LogDelivery, DescribeLogGroups, resource "
            "policies) and X-Ray (PutTraceSegments, GetSampling*) actions have no resource-level "
            "permissions; AWS documents Resource '*' for them.",
        )
        five_minutes = cdk.Duration.minutes(5)
        # Two alarms rather than one on metric math: the same two metrics, and every
        # CloudWatch (and emulator) reads them.
        self.alarms = {
            name: cloudwatch.Alarm(
                self,
                f"{name}Alarm",
                metric=metric,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{self.node.path}: an execution {what}",
            )
            for name, metric, what in (
                (
                    "Failed",
                    self.state_machine.metric_failed(statistic="Sum", period=five_minutes),
                    "failed",
                ),
                (
                    "TimedOut",
                    self.state_machine.metric_timed_out(statistic="Sum", period=five_minutes),
                    "timed out",
                ),
            )
        }
        alerts.notify_on(*self.alarms.values())


def error_record(
    scope: Construct, id: str, *, bucket: s3.IBucket, error_prefix: str, body: str = "$"
) -> tasks.CallAwsService:
    """A task writing the JSON at ``body`` (a path of the state: the whole state by
    default) to ``<error_prefix>/year=YYYY/month=MM/day=DD/<execution name>.json`` in
    ``bucket`` (the run's start date), with the bucket's default encryption. The state
    machine's role is granted ``s3:PutObject`` on ``<error_prefix>/*`` only; for the key,
    see :func:`grant_error_record_encryption`. Give it to :func:`failure_path` as
    ``record``."""
    return tasks.CallAwsService(
        scope,
        id,
        service="s3",
        action="putObject",
        iam_action="s3:PutObject",
        parameters={
            "Bucket": bucket.bucket_name,
            "Key.$": dated_key(error_prefix, "$$.Execution.Name"),
            "ContentType": "application/json",
            "Body.$": f"States.JsonToString({body})",
        },
        iam_resources=[f"{bucket.bucket_arn}/{error_prefix}/*"],
        result_path=sfn.JsonPath.DISCARD,
    )


def key_use_through_s3(
    sid: str, actions: list[str], key: kms.IKey, bucket: s3.IBucket, objects: list[str]
) -> iam.PolicyStatement:
    """``actions`` on ``key`` through S3 only, for ``objects`` (ARN patterns) of ``bucket``.
    The encryption context S3 gives KMS is the object's ARN, or, with S3 Bucket Keys (as
    :class:`SecureDataLake` buckets have), the bucket's: both are allowed."""
    return iam.PolicyStatement(
        sid=sid,
        actions=actions,
        resources=[key.key_arn],
        conditions={
            "StringEquals": {"kms:ViaService": f"s3.{cdk.Stack.of(bucket).region}.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket.bucket_arn, *objects]},
        },
    )


def grant_error_record_encryption(
    role: iam.IRole, bucket: s3.IBucket, key: kms.IKey, error_prefix: str
) -> None:
    """Let ``role`` encrypt what :func:`error_record` writes: ``kms:GenerateDataKey`` on
    ``key`` through S3 only, for ``bucket``, objects only under ``error_prefix``."""
    role.add_to_principal_policy(
        key_use_through_s3(
            "EncryptTheErrorRecords",
            ["kms:GenerateDataKey"],
            key,
            bucket,
            [f"{bucket.bucket_arn}/{error_prefix}/*"],
        )
    )


def failure_path(
    scope: Construct, alerts: AlertTopic, subject: str, error: str, *, record: sfn.IChainable
) -> sfn.IChainable:
    """``record`` (a state keeping the failure somewhere lasting; its own failure does not
    stop the alert), then the alert, then a Fail state ``Failed`` with ``error``. The error
    is expected at ``$.error`` (``{"Error", "Cause"}``), as a Catch with
    ``result_path="$.error"`` leaves it."""
    notify = alerts.notify_task(scope, subject)
    fail = sfn.Fail(scope, "Failed", error=error, cause="A step failed: see the execution")
    if isinstance(record, sfn.TaskStateBase):
        record.add_retry(
            errors=["States.ALL"],
            interval=cdk.Duration.seconds(5),
            max_attempts=2,
            backoff_rate=2,
        )
        record.add_catch(notify, errors=["States.ALL"], result_path="$.recordError")
    return sfn.Chain.start(record).next(notify).next(fail)  # type: ignore[arg-type]


def grant_secret_read(role: iam.IRole, secret: secretsmanager.ISecret) -> None:
    """Let ``role`` read ``secret`` (and decrypt it through Secrets Manager with its key,
    when the key is known) by identity policy only.

    ``secret.grant_read`` would also add ``role`` to the key's policy, which, with the key
    and the secret in one stack and the role's policy naming the secret, is a circular
    dependency; the key's default policy already lets the account's IAM policies use it.
    """
    stack = cdk.Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadTheSecret",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resources=[secret.secret_arn],
        )
    )
    if secret.encryption_key is not None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptTheSecret",
                actions=["kms:Decrypt"],
                resources=[secret.encryption_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"
                    }
                },
            )
        )
