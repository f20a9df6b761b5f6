"""AnalyticsStack: catalogue, transform and query the lake (the notes' batch/analytics layer)."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import (
    DataCatalog,
    EtlWorkflow,
    SparkEtlJob,
    ZoneCrawl,
    queries_for_curated_events,
)
from ml_blueprints.stacks.data_lake import DataLakeStack


class AnalyticsStack(cdk.Stack):
    """Glue catalog and crawlers, the Spark ETL job and its workflow, an Athena workgroup.

    Data lands in the raw zone (``events/``, e.g. from the real-time layer); the workflow
    crawls it, runs the Spark job that writes de-duplicated Parquet partitioned by
    ``event_date`` to the curated zone, and crawls that; Athena queries the curated table
    ``curated_events`` in the workgroup. The job also runs on its own daily schedule (its
    ledger of processed files makes a second run over the same files a no-op); start the
    workflow on demand.

    Outputs: database, workgroup, job and state machine names.
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, data_lake: DataLakeStack, **kwargs
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("analytics"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault(
            "description", "ml-blueprints analytics layer: Glue catalog, Spark ETL, Athena"
        )
        super().__init__(scope, id, **kwargs)
        lake = data_lake.lake
        service = settings.service_role_prefix
        self.catalog = DataCatalog(
            self,
            "Catalog",
            lake=lake,
            database_name=f"mlbp_{settings.env_name.replace('-', '_')}_lake",
            crawls=[ZoneCrawl("raw", "events/"), ZoneCrawl("curated", "events/")],
            named_queries=queries_for_curated_events("curated_events"),
            crawler_role_name=f"{service}crawler",
            removal_policy=settings.removal_policy,
        )
        self.job = SparkEtlJob(
            self, "EtlJob", catalog=self.catalog, job_role_name=f"{service}etl-job"
        )
        self.alerts = data_lake.alert_topic(self, "Alerts")
        self.workflow = EtlWorkflow(
            self,
            "Workflow",
            raw_crawler=self.catalog.crawlers["raw/events/"],
            job=self.job,
            curated_crawler=self.catalog.crawlers["curated/events/"],
            alerts=self.alerts,
            key=lake.key,
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal_policy,
        )
        outputs = {
            "DatabaseName": (self.catalog.database_name, "Glue database of the lake"),
            "WorkGroupName": (self.catalog.workgroup_name, "Athena workgroup to query in"),
            "EtlJobName": (self.job.job_name, "Glue Spark job: raw events -> curated Parquet"),
            "RawCrawlerName": (
                self.catalog.crawlers["raw/events/"].ref,
                "Crawler of the raw zone's events (table raw_events)",
            ),
            "StateMachineName": (
                self.workflow.state_machine.state_machine_name,
                "Step Functions workflow: crawl raw, run the job, crawl curated",
            ),
            "StateMachineArn": (self.workflow.state_machine.state_machine_arn, "Its ARN"),
        }
        for output_id, (value, description) in outputs.items():
            cdk.CfnOutput(self, output_id, value=value, description=description)
