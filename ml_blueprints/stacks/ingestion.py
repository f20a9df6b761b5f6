"""IngestionStack: how data reaches the lake besides the stream (the notes' ingestion layer)."""

from __future__ import annotations

from urllib.parse import urlparse

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import (
    BatchJob,
    DatabaseReplication,
    DeviceIngestion,
    MySqlSource,
    NfsShare,
    OnPremisesSync,
    SmbShare,
    TableExport,
)
from ml_blueprints.constructs.ingestion.batch_job import REQUIRED_ENDPOINTS
from ml_blueprints.stacks.data_lake import DataLakeStack
from ml_blueprints.stacks.real_time import RealTimeStack
from ml_blueprints.stacks.serving import ServingStack


class IngestionStack(cdk.Stack):
    """Devices, exports and, opt-in, databases, batch jobs and file servers into the raw zone.

    Always (nothing billed while idle but a few alarms; the alert topic uses the data lake
    layer's alerts key):

    - :class:`DeviceIngestion`: IoT Core devices publishing to
      ``devices/<thing name>/telemetry`` reach the real-time layer's stream (and so the raw
      zone's ``events/``); failures land under ``errors/devices/``.
    - :class:`TableExport`: the serving layer's results table exported daily (full, then
      incremental) to ``exports/results/``.

    Opt-in, from context:

    - ``-c batch_image=<ECR image URI>``: a :class:`BatchJob` running that image daily on
      Fargate, reading and writing ``batch/jobs/`` (with the ECR and CloudWatch Logs
      interface endpoints it needs, owned and billed here).
    - ``-c dms=true`` with ``dms_source_host``, ``dms_source_database`` and
      ``dms_source_secret_arn`` (``dms_source_port``, ``dms_source_cidr``,
      ``dms_service_roles`` optional): a :class:`DatabaseReplication` of that MySQL
      schema into ``databases/`` (with the Secrets Manager interface endpoint).
    - ``-c datasync_agent_arn=<ARN> -c datasync_source=nfs://server/path`` (or
      ``smb://server/share/path`` with ``datasync_smb_user``, ``datasync_smb_secret_arn``
      and optionally ``datasync_smb_domain``): an :class:`OnPremisesSync` into
      ``onprem/files/``.

    Deployed after the data lake, real-time and serving layers (it uses the lake, the
    stream and the results table). Outputs: the device topic, rule and policy names, the
    export state machine, and each opt-in's handle.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        data_lake: DataLakeStack,
        real_time: RealTimeStack,
        serving: ServingStack,
        **kwargs,
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("ingestion"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault(
            "description",
            "ml-blueprints ingestion layer: IoT devices, DynamoDB exports, Batch, DMS, DataSync",
        )
        super().__init__(scope, id, **kwargs)
        lake, network = data_lake.lake, data_lake.network
        removal = settings.removal_policy
        service = settings.service_role_prefix
        retention = settings.log_retention_days
        self.alerts = data_lake.alert_topic(self, "Alerts")
        outputs: dict[str, tuple[str, str]] = {}

        self.devices = DeviceIngestion(
            self,
            "Devices",
            stream=real_time.ingestion.stream,
            lake=lake,
            rule_name=f"mlbp_{settings.env_name.replace('-', '_')}_devices",
            role_name=f"{service}iot-devices",
        )
        outputs.update(
            {
                "DeviceTopic": (
                    self.devices.topic_filter.replace("+", "<thing name>"),
                    "MQTT topic each device publishes its JSON telemetry to",
                ),
                "DeviceRuleName": (self.devices.rule.ref, "IoT topic rule into the stream"),
                "DevicePolicyName": (
                    self.devices.device_policy_name,
                    "IoT policy to attach to each device certificate",
                ),
                "DeviceErrorPrefix": (
                    f"s3://{lake.bucket('raw').bucket_name}/{self.devices.error_prefix}/",
                    "Where device messages the rules could not deliver land",
                ),
            }
        )

        self.results_export = TableExport(
            self,
            "ResultsExport",
            table=serving.results.table,
            lake=lake,
            prefix="exports/results",
            alerts=self.alerts,
            role_name=f"{service}export-results",
            log_retention_days=retention,
            removal_policy=removal,
        )
        outputs["ExportStateMachineArn"] = (
            self.results_export.state_machine.state_machine_arn,
            "Step Functions: exports the results table (full, then incremental) daily",
        )

        endpoints: list[str] = []
        if settings.batch_image:
            endpoints += REQUIRED_ENDPOINTS
        if settings.dms:
            endpoints.append("secretsmanager")
        existing = set(network.interface_endpoints)
        needed = [e for e in dict.fromkeys(endpoints) if e not in existing]
        if needed:
            network.add_interface_endpoints(self, needed)

        self.batch: BatchJob | None = None
        if settings.batch_image:
            self.batch = BatchJob(
                self,
                "Batch",
                image=settings.batch_image,
                lake=lake,
                network=network,
                prefix="batch/jobs",
                job_name=f"mlbp-{settings.env_name}-batch",
                alerts=self.alerts,
                log_retention_days=retention,
                removal_policy=removal,
            )
            outputs.update(
                {
                    "BatchJobQueueArn": (self.batch.job_queue.job_queue_arn, "Batch job queue"),
                    "BatchJobDefinitionArn": (
                        self.batch.job_definition.job_definition_arn,
                        "Batch job definition (the image from batch_image)",
                    ),
                    "BatchStateMachineArn": (
                        self.batch.state_machine.state_machine_arn,
                        "Step Functions: submits the job and waits for it (daily schedule)",
                    ),
                }
            )

        self.replication: DatabaseReplication | None = None
        if settings.dms:
            assert settings.dms_source_host and settings.dms_source_database
            assert settings.dms_source_secret_arn
            self.replication = DatabaseReplication(
                self,
                "Database",
                source=MySqlSource(
                    host=settings.dms_source_host,
                    port=settings.dms_source_port,
                    database=settings.dms_source_database,
                    secret=_secret(self, "SourceSecret", settings.dms_source_secret_arn),
                    peer_cidr=settings.dms_source_cidr,
                ),
                lake=lake,
                network=network,
                replication_id=f"mlbp-{settings.env_name}-{settings.dms_source_database}".lower().replace(
                    "_", "-"
                )[:63],
                create_service_roles=settings.dms_service_roles,
                alerts=self.alerts,
                log_retention_days=retention,
                removal_policy=removal,
            )
            outputs.update(
                {
                    "ReplicationConfigArn": (
                        self.replication.replication_arn,
                        "DMS Serverless replication: start it with aws dms start-replication",
                    ),
                    "ReplicationPrefix": (
                        f"s3://{lake.bucket('raw').bucket_name}/{self.replication.data_prefix}/",
                        "Where the replicated tables land (Parquet)",
                    ),
                }
            )

        self.file_sync: OnPremisesSync | None = None
        if settings.datasync_agent_arn and settings.datasync_source:
            self.file_sync = OnPremisesSync(
                self,
                "Files",
                agent_arns=[settings.datasync_agent_arn],
                source=_share(self, settings),
                lake=lake,
                prefix="onprem/files",
                task_name=f"mlbp-{settings.env_name}-files",
                role_name=f"{service}datasync-files",
                alerts=self.alerts,
                log_retention_days=retention,
                removal_policy=removal,
            )
            outputs["DataSyncTaskArn"] = (self.file_sync.task_arn, "DataSync task (scheduled)")

        for output_id, (value, description) in outputs.items():
            cdk.CfnOutput(self, output_id, value=value, description=description)


def _secret(scope: Construct, id: str, arn: str) -> secretsmanager.ISecret:
    """A secret by its ARN: complete (with Secrets Manager's 6-character suffix) or not."""
    name = arn.split(":secret:", 1)[1]
    if len(name) > 7 and name[-7] == "-":
        return secretsmanager.Secret.from_secret_complete_arn(scope, id, arn)
    return secretsmanager.Secret.from_secret_partial_arn(scope, id, arn)


def _share(scope: Construct, settings: Settings) -> NfsShare | SmbShare:
    url = urlparse(settings.datasync_source or "")
    if url.scheme == "nfs":
        return NfsShare(server=url.hostname or "", path=url.path)
    assert settings.datasync_smb_user and settings.datasync_smb_secret_arn
    return SmbShare(
        server=url.hostname or "",
        path=url.path,
        user=settings.datasync_smb_user,
        domain=settings.datasync_smb_domain,
        password_secret=_secret(scope, "SharePassword", settings.datasync_smb_secret_arn),
    )
