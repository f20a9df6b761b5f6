"""TableExport: a DynamoDB table exported to the lake on a schedule, incrementally.

DynamoDB exports a table to S3 from its point-in-time recovery backups, without reading
the table (no capacity used). A Step Functions state machine, started on a schedule by
EventBridge Scheduler, calls the export through the AWS SDK integration, waits for it, and
remembers where it got to (a free SSM parameter holding the last export's end time), so each
run exports exactly the changes since the last one:

- The first run (and any run after a failed chain, see below) exports the whole table
  (``FULL_EXPORT``) and records its export time.
- Every later run exports the changes since that time (``INCREMENTAL_EXPORT``) and records
  the new end, so windows chain without gap or overlap. DynamoDB exports a period of 15
  minutes to 24 hours only: a small function (``ml_blueprints/runtime/export_window.py``)
  ends each window at the earlier of 24 hours after the recorded time and the latest time
  the table's recovery period has (``DescribeContinuousBackups``). A run more than 24 hours
  behind (a late or failed run, a paused schedule) exports one 24-hour window after another
  until it has caught up; a run less than 15 minutes after the last export exports nothing.
- When the recorded time is older than the table's earliest restorable time (recovery was
  switched off, or no export for longer than the recovery period), or DynamoDB refuses the
  window anyway, the run falls back to a full export: nothing is missed.

Each export lands under ``<prefix>/year=YYYY/month=MM/day=DD/`` of the run's start (DynamoDB
adds ``AWSDynamoDB/<export id>/`` with its manifests and data files), encrypted with the
lake key. A failed run writes its error to ``errors/<prefix>/year=.../<execution>.json``,
alerts, and leaves the recorded time unchanged, so the next run covers what it missed.
"""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_blueprints.compliance import acknowledge_rule, acknowledge_wildcard_resources
from ml_blueprints.constructs.ingestion.common import (
    SCHEDULE_ALLOWED,
    MonitoredStateMachine,
    StateMachineSchedule,
    dated_key,
    error_record,
    failure_path,
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
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
#: The window function's module in ``ml_blueprints/runtime``.
WINDOW_MODULE = "export_window"
#: What the watermark parameter holds before the first export.
NO_EXPORT_YET = "none"
EXPORT_FORMATS = ("DYNAMODB_JSON", "ION")
VIEW_TYPES = ("NEW_AND_OLD_IMAGES", "NEW_IMAGE")
#: DynamoDB errors worth retrying: too many exports at once, throttling, service trouble.
TRANSIENT_ERRORS = (
    "DynamoDb.LimitExceededException",
    "DynamoDb.InternalServerErrorException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.RequestLimitExceeded",
    "Ssm.ThrottlingException",
    "Ssm.InternalServerErrorException",
    "States.Timeout",
)
#: DynamoDB's refusals of an incremental window: answered with a full export.
WINDOW_REFUSED = ("DynamoDb.InvalidExportTimeException", "DynamoDb.ValidationException")


class TableExport(Construct):
    """Scheduled exports of ``table`` into ``prefix`` of ``zone`` in ``lake``.

    Defaults:

    - ``incremental``: True (the first run is a full export, every later one the changes
      since the previous, ``view_type`` ``NEW_AND_OLD_IMAGES``); False exports the whole
      table each run.
    - ``schedule``: ``rate(1 day)`` (a rate of at least one hour or a cron expression; with
      ``incremental``, a run more than 24 hours after the last export exports consecutive
      windows of at most 24 hours until it has caught up).
    - ``export_format``: ``DYNAMODB_JSON`` (or ``ION``), SSE-KMS with the lake key.
    - ``prefix``: ``exports/<id in lower case>``; ``zone``: ``raw``.
    - The export is polled every ``poll_seconds`` (120); each call is retried on throttling
      and transient errors (3 times from 30 s, backoff 2); a run times out after
      ``timeout_hours`` (12). Failures are written under ``errors/<prefix>/`` and published
      to ``alerts`` (a new :class:`AlertTopic` when not given); an alarm on failed or
      timed-out executions and one on dropped scheduled starts notify it too.
    - The state machine's role (named ``role_name``, or from the lake's exempt prefix when
      the lake is in another stack: DynamoDB writes the export from outside the VPC) may
      export this table, describe its exports and its recovery period, write the prefix
      and its error prefix with the lake key, read and write the watermark parameter, and
      (with ``incremental``) invoke the window function; nothing else.
    - With ``incremental``, the window function: Python, 128 MB, 30 s, reserved
      concurrency 2, no network calls; its role writes its own log group (encrypted with
      the lake key, kept ``log_retention_days``) only.
    - Logs at level ALL to a log group encrypted with the lake key, kept
      ``log_retention_days`` (365); X-Ray tracing.

    The table must have point-in-time recovery: a table defined in this app without it is
    refused here; an imported one fails its first run (``PointInTimeRecoveryUnavailable``,
    alerted).

    Attributes: ``state_machine``, ``role``, ``watermark``, ``schedule``, ``data_prefix``,
    ``error_prefix``, ``window_function`` (``None`` without ``incremental``), ``alerts``,
    ``alarms``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITableV2 | dynamodb.ITable,
        lake: SecureDataLake,
        zone: str = "raw",
        prefix: str | None = None,
        incremental: bool | None = None,
        schedule: str = "rate(1 day)",
        export_format: str = "DYNAMODB_JSON",
        view_type: str = "NEW_AND_OLD_IMAGES",
        poll_seconds: int = 120,
        timeout_hours: int = 12,
        alerts: AlertTopic | None = None,
        role_name: str | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        incremental = incremental if incremental is not None else True
        prefix = (
            prefix if prefix is not None else "exports/" + re.sub(r"[^a-z0-9]+", "-", id.lower())
        )
        errors = PropErrors(f"TableExport {self.node.path}")
        errors.require(
            zone in lake.zones, "zone", zone, f"one of the lake's zones ({', '.join(lake.zones)})"
        )
        require_prefix(errors, "prefix", prefix)
        errors.require(
            _point_in_time_recovery(table) is not False,
            "table",
            table.node.path,
            "a table with point-in-time recovery enabled: DynamoDB exports only from it",
        )
        errors.require(
            valid_schedule(schedule, min_minutes=60),
            "schedule",
            schedule,
            SCHEDULE_ALLOWED + ", at least an hour apart",
        )
        errors.require(
            export_format in EXPORT_FORMATS,
            "export_format",
            export_format,
            f"one of {', '.join(EXPORT_FORMATS)}",
        )
        errors.require(
            view_type in VIEW_TYPES, "view_type", view_type, f"one of {', '.join(VIEW_TYPES)}"
        )
        errors.require(
            isinstance(poll_seconds, int) and 30 <= poll_seconds <= 3600,
            "poll_seconds",
            poll_seconds,
            "30 to 3600 seconds",
        )
        errors.require(
            isinstance(timeout_hours, int) and 1 <= timeout_hours <= 48,
            "timeout_hours",
            timeout_hours,
            "1 to 48 hours",
        )
        errors.require(
            log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        errors.raise_if_any()
        role_name = lake.outside_role_name(self, "export", role_name, owner="TableExport")

        stack = cdk.Stack.of(self)
        bucket = lake.bucket(zone)
        self.data_prefix = prefix
        self.error_prefix = f"errors/{prefix}"
        self.alerts = alerts or AlertTopic(self, "Alerts", removal_policy=removal_policy)
        self.watermark = ssm.StringParameter(
            self,
            "Watermark",
            string_value=NO_EXPORT_YET,
            description=f"End time of the last export by {self.node.path} "
            f"('{NO_EXPORT_YET}': export the whole table next)",
        )
        parameter = self.watermark.parameter_name
        parameter_arn = self.watermark.parameter_arn

        def retried(task: sfn.TaskStateBase) -> sfn.TaskStateBase:
            task.add_retry(
                errors=list(TRANSIENT_ERRORS),
                interval=cdk.Duration.seconds(30),
                max_attempts=3,
                backoff_rate=2,
            )
            return task

        record = error_record(self, "KeepTheError", bucket=bucket, error_prefix=self.error_prefix)
        failure = failure_path(
            self,
            self.alerts,
            "ml-blueprints table export failed",
            "TableExportFailed",
            record=record,
        )

        plan = sfn.Pass(
            self,
            "PlanTheRun",
            comment="Where this run's export lands: the run's start date",
            parameters={"prefix.$": dated_key(prefix)},
            result_path="$.run",
        )
        read = retried(
            tasks.CallAwsService(
                self,
                "ReadTheWatermark",
                service="ssm",
                action="getParameter",
                parameters={"Name": parameter},
                iam_resources=[parameter_arn],
                result_selector={"value.$": "$.Parameter.Value"},
                result_path="$.watermark",
            )
        )
        read.add_catch(failure, errors=["States.ALL"], result_path="$.error")

        common = {
            "TableArn": table.table_arn,
            "S3Bucket": bucket.bucket_name,
            "S3BucketOwner": stack.account,
            "S3Prefix": sfn.JsonPath.string_at("$.run.prefix"),
            "S3SseAlgorithm": "KMS",
            "S3SseKmsKeyId": lake.key.key_arn,
            "ExportFormat": export_format,
        }
        full = retried(
            tasks.CallAwsService(
                self,
                "StartFullExport",
                service="dynamodb",
                action="exportTableToPointInTime",
                iam_action="dynamodb:ExportTableToPointInTime",
                parameters={**common, "ExportType": "FULL_EXPORT"},
                iam_resources=[table.table_arn],
                result_selector={"arn.$": "$.ExportDescription.ExportArn"},
                result_path="$.export",
            )
        )
        full.add_catch(failure, errors=["States.ALL"], result_path="$.error")
        wait = sfn.Wait(
            self, "WaitForTheExport", time=sfn.WaitTime.duration(cdk.Duration.seconds(poll_seconds))
        )
        describe = retried(
            tasks.CallAwsService(
                self,
                "DescribeTheExport",
                service="dynamodb",
                action="describeExport",
                iam_action="dynamodb:DescribeExport",
                parameters={"ExportArn": sfn.JsonPath.string_at("$.export.arn")},
                iam_resources=[f"{table.table_arn}/export/*"],
                result_selector={"description.$": "$.ExportDescription"},
                result_path="$.export.status",
            )
        )
        describe.add_catch(failure, errors=["States.ALL"], result_path="$.error")

        def save(name: str, value_path: str) -> sfn.TaskStateBase:
            task = retried(
                tasks.CallAwsService(
                    self,
                    name,
                    service="ssm",
                    action="putParameter",
                    parameters={
                        "Name": parameter,
                        "Value": sfn.JsonPath.string_at(value_path),
                        "Type": "String",
                        "Overwrite": True,
                    },
                    iam_resources=[parameter_arn],
                    result_path=sfn.JsonPath.DISCARD,
                )
            )
            task.add_catch(failure, errors=["States.ALL"], result_path="$.error")
            return task

        described = "$.export.status.description"
        done = sfn.Succeed(self, "Exported")
        save_full = save("RecordTheFullExportTime", f"{described}.ExportTime").next(done)
        save_incremental = save(
            "RecordTheIncrementalEnd",
            f"{described}.IncrementalExportSpecification.ExportToTime",
        )
        export_failed = sfn.Pass(
            self,
            "ExportFailed",
            parameters={
                "Error": "ExportFailed",
                "Cause.$": f"States.JsonToString({described})",
            },
            result_path="$.error",
        ).next(failure)
        finished = (
            sfn.Choice(self, "ExportFinished?")
            .when(sfn.Condition.string_equals(f"{described}.ExportStatus", "IN_PROGRESS"), wait)
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals(f"{described}.ExportStatus", "COMPLETED"),
                    sfn.Condition.string_equals(f"{described}.ExportType", "FULL_EXPORT"),
                ),
                save_full,
            )
            .when(
                sfn.Condition.string_equals(f"{described}.ExportStatus", "COMPLETED"),
                save_incremental,
            )
            .otherwise(export_failed)
        )
        full.next(wait)
        wait.next(describe)
        describe.next(finished)

        self.window_function: lambda_.Function | None = None
        invoke_resources: list[str] = []
        if incremental:
            recovery = retried(
                tasks.CallAwsService(
                    self,
                    "ReadTheRecoveryWindow",
                    service="dynamodb",
                    action="describeContinuousBackups",
                    iam_action="dynamodb:DescribeContinuousBackups",
                    parameters={"TableName": table.table_name},
                    iam_resources=[table.table_arn],
                    result_selector={"description.$": "$.ContinuousBackupsDescription"},
                    result_path="$.recovery",
                )
            )
            recovery.add_catch(failure, errors=["States.ALL"], result_path="$.error")
            self.window_function = self._window_function(
                lake.key, log_retention_days, removal_policy
            )
            invoke_resources = [f"{self.window_function.function_arn}:*"]
            window = tasks.LambdaInvoke(
                self,
                "PlanTheWindow",
                lambda_function=self.window_function,
                payload=sfn.TaskInput.from_object(
                    {
                        "lastEnd": sfn.JsonPath.string_at("$.watermark.value"),
                        "recovery": sfn.JsonPath.object_at("$.recovery.description"),
                    }
                ),
                payload_response_only=True,
                result_path="$.window",
            )
            window.add_retry(
                errors=["Lambda.TooManyRequestsException"],
                interval=cdk.Duration.seconds(5),
                max_attempts=3,
                backoff_rate=2,
            )
            window.add_catch(failure, errors=["States.ALL"], result_path="$.error")
            changes = retried(
                tasks.CallAwsService(
                    self,
                    "StartIncrementalExport",
                    service="dynamodb",
                    action="exportTableToPointInTime",
                    iam_action="dynamodb:ExportTableToPointInTime",
                    parameters={
                        **common,
                        "ExportType": "INCREMENTAL_EXPORT",
                        "IncrementalExportSpecification": {
                            "ExportFromTime": sfn.JsonPath.string_at("$.window.from"),
                            "ExportToTime": sfn.JsonPath.string_at("$.window.to"),
                            "ExportViewType": view_type,
                        },
                    },
                    iam_resources=[table.table_arn],
                    result_selector={"arn.$": "$.ExportDescription.ExportArn"},
                    result_path="$.export",
                )
            )
            changes.add_catch(full, errors=list(WINDOW_REFUSED), result_path="$.windowRefused")
            changes.add_catch(failure, errors=["States.ALL"], result_path="$.error")
            changes.next(wait)
            ready = (
                sfn.Choice(self, "WindowReady?")
                .when(sfn.Condition.string_equals("$.window.action", "INCREMENTAL"), changes)
                .when(sfn.Condition.string_equals("$.window.action", "FULL"), full)
                .otherwise(sfn.Succeed(self, "NothingToExportYet"))
            )
            recovery.next(window).next(ready)
            # More than 24 hours behind: the next window at once, until caught up.
            save_incremental.next(
                sfn.Choice(self, "CaughtUp?")
                .when(sfn.Condition.string_equals("$.window.next", "EXPORT_AGAIN"), read)
                .otherwise(done)
            )
            first = (
                sfn.Choice(self, "FirstExport?")
                .when(sfn.Condition.string_equals("$.watermark.value", NO_EXPORT_YET), full)
                .otherwise(recovery)
            )
            definition = plan.next(read).next(first)
        else:
            save_incremental.next(done)
            definition = plan.next(read).next(full)

        self.machine = MonitoredStateMachine(
            self,
            "Machine",
            definition=definition,
            description="Exports a DynamoDB table to the lake (full, then incremental)",
            alerts=self.alerts,
            key=lake.key,
            timeout=cdk.Duration.hours(timeout_hours),
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            role_name=role_name,
        )
        self.state_machine = self.machine.state_machine
        self.role = self.machine.role
        lake.admit_outside_role(self.role)
        objects = [
            f"{bucket.bucket_arn}/{prefix}/*",
            f"{bucket.bucket_arn}/{self.error_prefix}/*",
        ]
        for statement in (
            iam.PolicyStatement(
                sid="DynamoDbWritesTheExport",
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"],
                resources=[objects[0]],
            ),
            key_use_through_s3(
                "EncryptWithTheLakeKey",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                lake.key,
                bucket,
                objects,
            ),
        ):
            self.role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            [*objects, f"{table.table_arn}/export/*", *invoke_resources],
            "DynamoDB names each export's objects and the export itself at run time; the "
            "wildcards are this export's prefix and error prefix in one zone, the exports of "
            "this one table, and the versions of the export's own window function.",
        )
        self.schedule = StateMachineSchedule(
            self,
            "Schedule",
            state_machine=self.state_machine,
            expression=schedule,
            description=f"Exports {table.node.path} to the lake",
            alerts=self.alerts,
            removal_policy=removal_policy,
        )
        self.alarms = {**self.machine.alarms, "ScheduleDropped": self.schedule.alarm}

    def _window_function(
        self, key: kms.IKey, log_retention_days: int, removal_policy: cdk.RemovalPolicy
    ) -> lambda_.Function:
        """``ml_blueprints/runtime/export_window.py``: computes the next incremental window
        from the watermark and the table's recovery period. It calls nothing and reaches
        nothing: its role may write its own log group only."""
        log_group = logs.LogGroup(
            self,
            "WindowLogs",
            encryption_key=key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        role = ManagedPolicyRole(
            self,
            "WindowRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Plans {self.node.path}'s incremental windows: writes its own logs only",
        )
        function = lambda_.Function(
            self,
            "WindowFunction",
            description="Plans a DynamoDB incremental export's window (ml-blueprints)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler=f"{WINDOW_MODULE}.handler",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR), exclude=["*", f"!{WINDOW_MODULE}.py"]),
            memory_size=128,
            timeout=cdk.Duration.seconds(30),
            reserved_concurrent_executions=2,
            role=role,
            log_group=log_group,
        )
        log_group.grant_write(role)
        acknowledge_rule(
            function,
            "LambdaInsideVPC",
            "The function makes no network calls: it computes a time window from its input "
            "and returns it to Step Functions.",
        )
        acknowledge_rule(
            function,
            "LambdaDLQ",
            "Step Functions invokes the function synchronously; a dead-letter queue only "
            "catches asynchronous invocations. Its failures are caught by the state machine "
            "and written under the export's error prefix.",
        )
        return function


def _point_in_time_recovery(table: dynamodb.ITableV2 | dynamodb.ITable) -> bool | None:
    """Whether a table defined in this app has point-in-time recovery (every replica of a
    global table); ``None`` when it is imported (nothing to read)."""
    resource = table.node.default_child
    if isinstance(resource, dynamodb.CfnTable):
        spec = cdk.Stack.of(resource).resolve(resource.point_in_time_recovery_specification)
        return bool(spec and spec.get("pointInTimeRecoveryEnabled"))
    if isinstance(resource, dynamodb.CfnGlobalTable):
        replicas = cdk.Stack.of(resource).resolve(resource.replicas) or []
        return bool(replicas) and all(
            (r.get("pointInTimeRecoverySpecification") or {}).get("pointInTimeRecoveryEnabled")
            is True
            for r in replicas
        )
    return None
