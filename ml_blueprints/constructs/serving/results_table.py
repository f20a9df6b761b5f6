"""ResultsTable: a DynamoDB table for ML outputs, and the record of every training run.

The course notes' serving layer stores ML output in DynamoDB. This table holds one item per
training run (job name, status, metrics, model artifact, times), written by the training
state machine on success and on failure, so past trainings can be listed with one query
instead of the console; other ML outputs can share it and expire through TTL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_blueprints.constructs.shared.grants import grant_on_managed_policy
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

#: Partition key: the training job's (or any output's) unique name.
JOB_NAME = "job_name"
#: The index that lists runs by pipeline, newest first: partition ``pipeline`` (the state
#: machine's name), sort ``started_at`` (ISO 8601, so it sorts by time).
BY_PIPELINE_INDEX = "by-pipeline"
PIPELINE = "pipeline"
STARTED_AT = "started_at"
#: TTL attribute: epoch seconds after which DynamoDB deletes the item (absent: kept).
EXPIRES_AT = "expires_at"

#: What :meth:`ResultsTable.grant_read_results` allows on the table and its indexes.
READ_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
#: What :meth:`ResultsTable.grant_record_runs` allows on the table.
RECORD_ACTIONS: tuple[str, ...] = ("dynamodb:PutItem",)
#: Key actions DynamoDB performs with the caller's permissions to read a table encrypted
#: with a customer-managed key ...
KEY_READ_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:DescribeKey")
#: ... and to write to it.
KEY_WRITE_ACTIONS: tuple[str, ...] = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
)
#: Errors a put is retried on (throttling and transient service errors).
RETRYABLE_ERRORS: tuple[str, ...] = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.RequestLimitExceeded",
)

_JSON_PATH = re.compile(r"^\$(\.[A-Za-z0-9_-]+)+$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass(frozen=True)
class TrainingRunPaths(TypedProps):
    """Where a training state machine keeps what a run record holds, as JSONPaths into the
    state at the recording step. Defaults follow ``TrainingPipeline``'s state.

    - ``job_name`` (``$.run.name``): the training job's name; the item's key. Required on
      both paths.
    - ``model_artifact`` (``$.training.ModelArtifacts``): S3 URI of ``model.tar.gz``.
    - ``metrics`` (``$.training.FinalMetricDataList``): the job's final metrics (SageMaker's
      list of ``{MetricName, Value, Timestamp}``), stored as JSON text; ``None`` to leave
      them out.
    - ``training_seconds`` / ``billable_seconds`` (``$.training.TrainingTimeInSeconds`` /
      ``$.training.BillableTimeInSeconds``): numbers; ``None`` to leave them out.
    - ``error`` (``$.error``): where the failure path keeps ``{Error, Cause}`` (a Catch's
      ``ResultPath``).
    """

    job_name: str = "$.run.name"
    model_artifact: str = "$.training.ModelArtifacts"
    metrics: str | None = "$.training.FinalMetricDataList"
    training_seconds: str | None = "$.training.TrainingTimeInSeconds"
    billable_seconds: str | None = "$.training.BillableTimeInSeconds"
    error: str = "$.error"

    def validate(self, errors: PropErrors, prop: str = "paths") -> None:
        for name in (
            "job_name",
            "model_artifact",
            "metrics",
            "training_seconds",
            "billable_seconds",
            "error",
        ):
            value = getattr(self, name)
            if value is None and name in ("metrics", "training_seconds", "billable_seconds"):
                continue
            errors.require(
                isinstance(value, str) and bool(_JSON_PATH.match(value)),
                f"{prop}.{name}",
                value,
                "a JSONPath into the state such as '$.training.ModelArtifacts'",
            )


@dataclass(frozen=True)
class RunRecordTasks:
    """The two recording steps :meth:`ResultsTable.record_training_run` returns: put the
    ``succeeded`` one after training (and model registration), the ``failed`` one first on
    the failure path (before the notification). Both leave the state unchanged."""

    succeeded: tasks.DynamoPutItem
    failed: tasks.DynamoPutItem


class ResultsTable(Construct):
    """A DynamoDB table (``TableV2``) for ML outputs and training-run records.

    Defaults:

    - Partition key ``job_name`` (string); global secondary index ``by-pipeline``
      (partition ``pipeline``, sort ``started_at``, all attributes) to list a pipeline's
      runs newest first.
    - On-demand capacity (nothing billed while idle but storage), TTL on ``expires_at``.
    - Point-in-time recovery, kept ``recovery_period_days`` (35, the maximum).
    - Encrypted with ``encryption_key``: a new customer-managed key with rotation when not
      given.
    - ``removal_policy``: RETAIN (the table and the key). ``deletion_protection`` defaults
      to on unless ``removal_policy`` is DESTROY (the app's sandbox switch).

    Grant access with :meth:`grant_read_results` and :meth:`grant_record_runs`: the key is
    set on the table's replica directly (``TableV2`` cannot render a customer-managed key in a
    stack without a region), so ``table.grant_*`` would leave out the key.

    Attributes: ``table``, ``key``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table_name: str | None = None,
        encryption_key: kms.IKey | None = None,
        recovery_period_days: int = 35,
        deletion_protection: bool | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors(f"ResultsTable {self.node.path}")
        if table_name is not None and not cdk.Token.is_unresolved(table_name):
            errors.require(
                bool(_TABLE_NAME.match(table_name)),
                "table_name",
                table_name,
                "3-255 characters: letters, digits, '_', '-', '.'",
            )
        errors.require(
            isinstance(recovery_period_days, int)
            and not isinstance(recovery_period_days, bool)
            and 1 <= recovery_period_days <= 35,
            "recovery_period_days",
            recovery_period_days,
            "1 to 35 days (point-in-time recovery's range)",
        )
        errors.raise_if_any()
        protect = (
            deletion_protection
            if deletion_protection is not None
            else removal_policy != cdk.RemovalPolicy.DESTROY
        )
        self.key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description=f"Encrypts the results table {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=cdk.Duration.days(7)
            if removal_policy == cdk.RemovalPolicy.DESTROY
            else None,
        )
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=JOB_NAME, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            # SSE with KMS; the replica's key is set below (TableV2 cannot render a
            # customer-managed key in a stack without a region).
            encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
                recovery_period_in_days=recovery_period_days,
            ),
            deletion_protection=protect,
            time_to_live_attribute=EXPIRES_AT,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=BY_PIPELINE_INDEX,
                    partition_key=dynamodb.Attribute(
                        name=PIPELINE, type=dynamodb.AttributeType.STRING
                    ),
                    sort_key=dynamodb.Attribute(
                        name=STARTED_AT, type=dynamodb.AttributeType.STRING
                    ),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
            ],
            removal_policy=removal_policy,
        )
        table = self.table.node.default_child
        assert isinstance(table, dynamodb.CfnGlobalTable)
        table.add_property_override(
            "Replicas.0.SSESpecification", {"KMSMasterKeyId": self.key.key_arn}
        )

    # ------------------------------------------------------------------------------ grants

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def _kms_condition(self) -> dict[str, dict[str, str]]:
        region = cdk.Stack.of(self).region
        return {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}}

    def _grant(
        self, grantee: iam.IGrantable, actions: tuple[str, ...], key_actions: tuple[str, ...]
    ) -> iam.Grant:
        """A customer-managed policy on ``grantee`` (see
        :mod:`~ml_blueprints.constructs.shared.grants`), with the index wildcard of a read
        grant acknowledged on it."""
        table_arn = self.table.table_arn
        indexes = f"{table_arn}/index/*"
        reading = actions == READ_ACTIONS
        return grant_on_managed_policy(
            grantee,
            [
                iam.PolicyStatement(
                    actions=list(actions),
                    resources=[table_arn, indexes] if reading else [table_arn],
                ),
                iam.PolicyStatement(
                    actions=list(key_actions),
                    resources=[self.key.key_arn],
                    conditions=self._kms_condition(),
                ),
            ],
            wildcard_resources=[indexes] if reading else [],
            reason="ResultsTable.grant_read_results: queries may use any index of this one "
            "table (indexes are added over its life); the actions are read-only and listed "
            "one by one.",
        )

    @typed_props
    def grant_read_results(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the table and its indexes (:data:`READ_ACTIONS`) and decrypt
        through DynamoDB with the table's key (:data:`KEY_READ_ACTIONS`). Nothing else."""
        return self._grant(grantee, READ_ACTIONS, KEY_READ_ACTIONS)

    @typed_props
    def grant_record_runs(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (a training state machine's role) put items
        (:data:`RECORD_ACTIONS`) with the table's key (:data:`KEY_WRITE_ACTIONS`)."""
        return self._grant(grantee, RECORD_ACTIONS, KEY_WRITE_ACTIONS)

    # ------------------------------------------------------------------ run recording tasks

    @typed_props
    def record_training_run(
        self,
        scope: Construct,
        *,
        paths: TrainingRunPaths | None = None,
        id_prefix: str = "Record",
    ) -> RunRecordTasks:
        """The Step Functions tasks that record a training run, in ``scope`` (the state
        machine's construct): ``<id_prefix>Succeeded`` and ``<id_prefix>Failed``.

        Each puts one item keyed by the job name with ``pipeline`` (the state machine's
        name), ``execution`` (its execution ARN), ``status`` (``SUCCEEDED``/``FAILED``),
        ``started_at`` (the execution's start) and ``finished_at`` (when the step runs);
        success adds ``model_artifact``, ``metrics`` (JSON text) and the training and
        billable seconds, failure adds ``error`` and ``cause``. Items never expire
        (no ``expires_at``). Retried 3 times on throttling; the state passes through
        unchanged (``ResultPath: null``). Grant the state machine's role
        :meth:`grant_record_runs`: the task's own policy omits the table's KMS key.
        """
        paths = paths or TrainingRunPaths()
        errors = PropErrors(f"ResultsTable.record_training_run {self.node.path}")
        paths.validate(errors)
        errors.require(
            isinstance(id_prefix, str) and bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", id_prefix)),
            "id_prefix",
            id_prefix,
            "a construct id prefix: letters and digits, starting with a letter",
        )
        errors.raise_if_any()
        value = tasks.DynamoAttributeValue
        common = {
            JOB_NAME: value.from_string(sfn.JsonPath.string_at(paths.job_name)),
            PIPELINE: value.from_string(sfn.JsonPath.state_machine_name),
            "execution": value.from_string(sfn.JsonPath.execution_id),
            STARTED_AT: value.from_string(sfn.JsonPath.execution_start_time),
            "finished_at": value.from_string(sfn.JsonPath.state_entered_time),
        }
        succeeded_item = {
            **common,
            "status": value.from_string("SUCCEEDED"),
            "model_artifact": value.from_string(sfn.JsonPath.string_at(paths.model_artifact)),
        }
        if paths.metrics is not None:
            succeeded_item["metrics"] = value.from_string(
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(paths.metrics))
            )
        for attribute, path in (
            ("training_seconds", paths.training_seconds),
            ("billable_seconds", paths.billable_seconds),
        ):
            if path is not None:
                succeeded_item[attribute] = value.number_from_string(
                    sfn.JsonPath.format("{}", sfn.JsonPath.string_at(path))
                )
        failed_item = {
            **common,
            "status": value.from_string("FAILED"),
            "error": value.from_string(sfn.JsonPath.string_at(f"{paths.error}.Error")),
            "cause": value.from_string(sfn.JsonPath.string_at(f"{paths.error}.Cause")),
        }
        recorded = []
        for outcome, item in (("Succeeded", succeeded_item), ("Failed", failed_item)):
            task = tasks.DynamoPutItem(
                scope,
                f"{id_prefix}{outcome}",
                table=self.table,
                item=item,
                result_path=sfn.JsonPath.DISCARD,
                comment=f"Record the {outcome.lower()} run in {self.node.path}",
            )
            task.add_retry(
                errors=list(RETRYABLE_ERRORS),
                interval=cdk.Duration.seconds(2),
                max_attempts=3,
                backoff_rate=2,
            )
            recorded.append(task)
        return RunRecordTasks(succeeded=recorded[0], failed=recorded[1])
