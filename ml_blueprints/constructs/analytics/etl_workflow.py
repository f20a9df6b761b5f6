"""EtlWorkflow: the batch flow as a Step Functions state machine.

Crawl raw -> wait for the crawler -> run the Spark ETL job (and wait for it) -> crawl
curated -> wait. Every step retries with exponential backoff; any failure is recorded in the
execution's output, published to an alert topic, and ends the execution as failed.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_blueprints.compliance import acknowledge
from ml_blueprints.constructs.analytics.spark_etl_job import SparkEtlJob
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.validation import PropErrors, typed_props

#: Glue errors worth retrying: throttling and transient service trouble.
TRANSIENT_ERRORS = (
    "Glue.ThrottlingException",
    "Glue.OperationTimeoutException",
    "Glue.InternalServiceException",
    "Glue.ConcurrentRunsExceededException",
    "States.Timeout",
)


class EtlWorkflow(Construct):
    """Crawl raw, run the ETL job, crawl curated; retry, record and notify failures.

    Defaults: crawler state polled every ``poll_seconds`` (60); each task retried 3 times
    from 10 s with backoff rate 2 on transient errors (the job run on any error, twice); the
    whole execution times out after ``timeout_hours`` (6). Logging at level ALL (with
    execution data) to a log group encrypted with ``key`` kept ``log_retention_days``
    (365); X-Ray tracing on. Failures are published to ``alerts``.

    Attributes: ``state_machine``, ``role``, ``log_group``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        raw_crawler: glue.CfnCrawler,
        job: SparkEtlJob,
        curated_crawler: glue.CfnCrawler,
        alerts: AlertTopic,
        key: kms.IKey,
        poll_seconds: int = 60,
        timeout_hours: int = 6,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors("EtlWorkflow")
        errors.require(
            isinstance(poll_seconds, int) and 10 <= poll_seconds <= 3600,
            "poll_seconds",
            poll_seconds,
            "10 to 3600 seconds",
        )
        errors.require(
            isinstance(timeout_hours, int) and 1 <= timeout_hours <= 24 * 7,
            "timeout_hours",
            timeout_hours,
            "1 to 168 hours",
        )
        errors.require(
            log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        errors.raise_if_any()
        stack = cdk.Stack.of(self)
        self._poll = cdk.Duration.seconds(poll_seconds)

        failure = self._failure_path(alerts)
        raw = self._crawl("Raw", raw_crawler, failure)
        run_job = tasks.GlueStartJobRun(
            self,
            "RunEtlJob",
            glue_job_name=job.job_name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path="$.job",
            result_selector={"JobRunId.$": "$.Id", "State.$": "$.JobRunState"},
        )
        run_job.add_retry(
            errors=["States.ALL"],
            interval=cdk.Duration.seconds(60),
            max_attempts=2,
            backoff_rate=2,
        )
        run_job.add_catch(failure, errors=["States.ALL"], result_path="$.error")
        curated = self._crawl("Curated", curated_crawler, failure)
        done = sfn.Succeed(self, "Done")
        raw.then(run_job)
        run_job.next(curated.start)
        curated.then(done)
        definition = raw.start

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
            assumed_by=iam.ServicePrincipal("states.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Runs the ETL workflow: crawlers, the ETL job, failure notices",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            role=self.role,
            timeout=cdk.Duration.hours(timeout_hours),
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
        acknowledge(
            self.role.grants_policy,  # type: ignore[arg-type]
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions' log delivery (logs:*LogDelivery, DescribeLogGroups, resource "
            "policies) and X-Ray (PutTraceSegments, GetSampling*) actions have no resource-level "
            "permissions; AWS documents Resource '*' for them.",
        )

    def _failure_path(self, alerts: AlertTopic) -> sfn.IChainable:
        notify = alerts.notify_task(self, "ml-blueprints ETL workflow failed")
        record = sfn.Pass(
            self,
            "RecordFailure",
            comment="Keeps the error in the execution output for whoever looks next",
            parameters={
                "failedAt.$": "$$.State.EnteredTime",
                "Error.$": "$.error.Error",
                "Cause.$": "$.error.Cause",
            },
            result_path="$.failure",
        )
        fail = sfn.Fail(
            self, "Failed", error="EtlWorkflowFailed", cause="A step failed: see the execution"
        )
        return record.next(notify).next(fail)

    def _crawl(self, name: str, crawler: glue.CfnCrawler, failure: sfn.IChainable) -> _CrawlSteps:
        stack = cdk.Stack.of(self)
        crawler_arn = stack.format_arn(
            service="glue", resource="crawler", resource_name=crawler.ref
        )
        start = tasks.CallAwsService(
            self,
            f"Start{name}Crawler",
            service="glue",
            action="startCrawler",
            parameters={"Name": crawler.ref},
            iam_resources=[crawler_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
        # Already running (e.g. its own schedule started it): just wait for it.
        already_running = sfn.Pass(self, f"{name}CrawlerAlreadyRunning")
        start.add_catch(
            already_running,
            errors=["Glue.CrawlerRunningException"],
            result_path=sfn.JsonPath.DISCARD,
        )
        start.add_retry(
            errors=list(TRANSIENT_ERRORS),
            interval=cdk.Duration.seconds(10),
            max_attempts=3,
            backoff_rate=2,
        )
        start.add_catch(failure, errors=["States.ALL"], result_path="$.error")
        wait = sfn.Wait(self, f"WaitFor{name}Crawler", time=sfn.WaitTime.duration(self._poll))
        get = tasks.CallAwsService(
            self,
            f"Get{name}CrawlerState",
            service="glue",
            action="getCrawler",
            parameters={"Name": crawler.ref},
            iam_resources=[crawler_arn],
            # The whole record: LastCrawl is absent until a crawler's first run ends.
            result_selector={"State.$": "$.Crawler.State", "Crawler.$": "$.Crawler"},
            result_path=f"$.{name.lower()}Crawler",
        )
        get.add_retry(
            errors=list(TRANSIENT_ERRORS),
            interval=cdk.Duration.seconds(10),
            max_attempts=3,
            backoff_rate=2,
        )
        get.add_catch(failure, errors=["States.ALL"], result_path="$.error")
        result = f"$.{name.lower()}Crawler"
        crawl_failed = sfn.Pass(
            self,
            f"{name}CrawlFailed",
            parameters={
                "Error": "CrawlerFailed",
                "Cause.$": f"States.JsonToString({result}.Crawler.LastCrawl)",
            },
            result_path="$.error",
        ).next(failure)  # type: ignore[arg-type]
        finished = sfn.Choice(self, f"{name}CrawlerFinished?")
        outcome = sfn.Choice(self, f"{name}CrawlSucceeded?")
        last = f"{result}.Crawler.LastCrawl.Status"
        finished.when(sfn.Condition.string_equals(f"{result}.State", "READY"), outcome)
        finished.otherwise(wait)
        already_running.next(wait)
        wait.next(get)
        get.next(finished)
        return _CrawlSteps(
            start=start, wait=wait, outcome=outcome, last_status=last, failed=crawl_failed
        )


class _CrawlSteps:
    """The states of one crawl: start it, poll until READY, then branch on how it ended."""

    def __init__(
        self,
        *,
        start: sfn.TaskStateBase,
        wait: sfn.Wait,
        outcome: sfn.Choice,
        last_status: str,
        failed: sfn.IChainable,
    ) -> None:
        self.start = start
        self.wait = wait
        self.outcome = outcome
        self.last_status = last_status
        self.failed = failed

    def then(self, next_state: sfn.IChainable) -> None:
        """Go to ``next_state`` when the crawl did not fail, to the failure path when it did."""
        self.start.next(self.wait)
        # Choice rules are tried in order: the status is compared only once it is present.
        self.outcome.when(sfn.Condition.is_not_present(self.last_status), next_state)
        self.outcome.when(sfn.Condition.string_equals(self.last_status, "FAILED"), self.failed)
        self.outcome.otherwise(next_state)
