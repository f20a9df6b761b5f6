"""SparkEtlJob: the raw-to-curated PySpark job (:mod:`ml_blueprints.runtime.spark_etl`) as an
AWS Glue job, with its modules, encryption, metrics, continuous logs and a schedule."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.analytics.data_catalog import DataCatalog
from ml_blueprints.constructs.shared.defaults import CRON_ALLOWED, is_aws_cron
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.validation import PropErrors, typed_props

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
SCRIPT = RUNTIME_DIR / "spark_etl.py"
#: The modules the script imports (the event contract the Firehose transform applies too, the
#: input files and ledger, the payload types), shipped beside it as one zip: Glue
#: ``--extra-py-files``, EMR ``spark-submit --py-files``.
SCRIPT_MODULES: tuple[str, ...] = ("event_contract.py", "spark_files.py", "spark_schema.py")


def script_modules_asset(scope: Construct, id: str) -> s3_assets.Asset:
    """:data:`SCRIPT_MODULES` as one zip asset (nothing else of the runtime directory)."""
    return s3_assets.Asset(
        scope,
        id,
        path=str(RUNTIME_DIR),
        exclude=["*", *(f"!{name}" for name in SCRIPT_MODULES)],
    )


#: Glue versions with Spark 3.5 / Python 3.11 (5.0) and Spark 3.3 / Python 3.10 (4.0).
GLUE_VERSIONS = ("5.0", "4.0")
#: Worker types for Spark (glueetl) jobs, smallest first. G.1X: 4 vCPU, 16 GB.
WORKER_TYPES = ("G.1X", "G.2X", "G.4X", "G.8X", "G.12X", "G.16X", "R.1X", "R.2X", "R.4X", "R.8X")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_\-/]*/$")


class SparkEtlJob(Construct):
    """The Spark ETL job on AWS Glue.

    Defaults: Glue 5.0 (Spark 3.5, Python 3.11, the versions the job's tests run on), 2
    ``G.1X`` workers, 60-minute timeout, 1 retry, one run at a time (the job keeps its own
    ledger of processed files in the quarantine location, so each run processes only files new
    since the last successful one and a retry exactly what failed; Glue job bookmarks are off:
    they track only reads through Glue's own readers, and the job reads raw lines), the
    script's modules (:data:`SCRIPT_MODULES`) as ``--extra-py-files``, the catalog's security
    configuration (encrypted logs and bookmarks), job metrics, observability metrics and
    continuous CloudWatch logging. Reads ``source_zone``/``source_prefix`` (raw
    ``events/``), writes Parquet partitioned by ``event_date`` to
    ``target_zone``/``target_prefix`` (curated ``events/``) and rows it cannot use to
    ``quarantine_zone``/``quarantine_prefix`` (raw ``quarantine/events/``). Runs daily at
    02:15 UTC (``schedule``; ``None`` for on demand only).

    Attributes: ``job``, ``job_name``, ``role``, ``trigger`` (or ``None``), ``script``,
    ``modules``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        catalog: DataCatalog,
        source_zone: str = "raw",
        source_prefix: str = "events/",
        target_zone: str = "curated",
        target_prefix: str = "events/",
        quarantine_zone: str = "raw",
        quarantine_prefix: str = "quarantine/events/",
        glue_version: str = "5.0",
        worker_type: str = "G.1X",
        number_of_workers: int = 2,
        timeout_minutes: int = 60,
        max_retries: int = 1,
        schedule: str | None = "cron(15 2 * * ? *)",
        job_role_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        lake = catalog.lake
        errors = PropErrors("SparkEtlJob")
        zones = ", ".join(lake.zones)
        for prop, zone in (
            ("source_zone", source_zone),
            ("target_zone", target_zone),
            ("quarantine_zone", quarantine_zone),
        ):
            errors.require(zone in lake.zones, prop, zone, f"one of the lake's zones ({zones})")
        for prop, prefix in (
            ("source_prefix", source_prefix),
            ("target_prefix", target_prefix),
            ("quarantine_prefix", quarantine_prefix),
        ):
            errors.require(
                isinstance(prefix, str) and bool(_PREFIX.match(prefix)),
                prop,
                prefix,
                "a key prefix ending in '/', e.g. 'events/'",
            )
        places = {
            (source_zone, source_prefix),
            (target_zone, target_prefix),
            (quarantine_zone, quarantine_prefix),
        }
        errors.require(
            len(places) == 3,
            "target_prefix/quarantine_prefix",
            (target_prefix, quarantine_prefix),
            "the source, target and quarantine locations all different",
        )
        errors.require(
            glue_version in GLUE_VERSIONS,
            "glue_version",
            glue_version,
            f"one of {', '.join(GLUE_VERSIONS)}",
        )
        errors.require(
            worker_type in WORKER_TYPES,
            "worker_type",
            worker_type,
            f"one of {', '.join(WORKER_TYPES)}",
        )
        errors.require(
            isinstance(number_of_workers, int) and 2 <= number_of_workers <= 299,
            "number_of_workers",
            number_of_workers,
            "2 to 299 (a Spark job needs a driver and at least one executor)",
        )
        errors.require(
            isinstance(timeout_minutes, int) and 1 <= timeout_minutes <= 2880,
            "timeout_minutes",
            timeout_minutes,
            "1 to 2880 minutes (48 hours)",
        )
        errors.require(
            isinstance(max_retries, int) and 0 <= max_retries <= 10,
            "max_retries",
            max_retries,
            "0 to 10",
        )
        if schedule is not None:
            errors.require(is_aws_cron(schedule), "schedule", schedule, CRON_ALLOWED)
        errors.raise_if_any()

        stack = cdk.Stack.of(self)
        role_name = lake.outside_role_name(self, "etl", job_role_name, owner="SparkEtlJob")
        self.script = s3_assets.Asset(self, "Script", path=str(SCRIPT))
        self.modules = script_modules_asset(self, "Modules")
        self.role = ManagedPolicyRole(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="The Spark ETL job: reads raw events, writes curated and quarantine",
        )
        lake.admit_outside_role(self.role)
        source = lake.bucket(source_zone)
        target = lake.bucket(target_zone)
        quarantine = lake.bucket(quarantine_zone)
        reads = [source.arn_for_objects(f"{source_prefix}*")]
        writes = [
            target.arn_for_objects(f"{target_prefix}*"),
            quarantine.arn_for_objects(f"{quarantine_prefix}*"),
        ]
        buckets = sorted({source.bucket_arn, target.bucket_arn, quarantine.bucket_arn}, key=str)
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/jobs*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        for statement in (
            iam.PolicyStatement(sid="ReadRawEvents", actions=["s3:GetObject"], resources=reads),
            iam.PolicyStatement(
                sid="ReadTheScript",
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}"
                    for asset in (self.script, self.modules)
                ],
            ),
            iam.PolicyStatement(
                sid="WriteCuratedAndQuarantine",
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                resources=writes,
            ),
            iam.PolicyStatement(
                sid="ListTheZones",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=buckets,
            ),
            iam.PolicyStatement(
                sid="UseTheLakeKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[lake.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="WriteEncryptedJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",
                ],
                resources=[log_groups, f"{log_groups}:*"],
            ),
            iam.PolicyStatement(
                sid="PublishJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            ),
            iam.PolicyStatement(
                sid="ReadTheSecurityConfiguration",
                actions=["glue:GetSecurityConfiguration"],
                resources=["*"],
            ),
        ):
            self.role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            [*reads, *writes, log_groups, f"{log_groups}:*", "*"],
            "Spark reads and writes files it names at run time; each wildcard stays inside "
            "the job's source, target or quarantine prefix or Glue's job log groups. "
            "PutMetricData (limited to the Glue namespace) has no resource type.",
        )

        self.job_name = f"{catalog.database_name.replace('_', '-')}-raw-to-curated"
        self.job = glue.CfnJob(
            self,
            "Job",
            name=self.job_name,
            description="Raw JSON events -> de-duplicated Parquet by event_date; bad rows "
            "quarantined (ml-blueprints)",
            role=self.role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=self.script.s3_object_url
            ),
            glue_version=glue_version,
            worker_type=worker_type,
            number_of_workers=number_of_workers,
            timeout=timeout_minutes,
            max_retries=max_retries,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=catalog.security_configuration_name,
            default_arguments={
                "--job-language": "python",
                "--job-bookmark-option": "job-bookmark-disable",
                "--extra-py-files": self.modules.s3_object_url,
                "--enable-metrics": "true",
                "--enable-observability-metrics": "true",
                "--enable-continuous-cloudwatch-log": "true",
                "--input_path": f"s3://{source.bucket_name}/{source_prefix}",
                "--output_path": f"s3://{target.bucket_name}/{target_prefix}",
                "--quarantine_path": f"s3://{quarantine.bucket_name}/{quarantine_prefix}",
            },
        )
        self.job.add_resource_dependency(catalog.security_configuration)
        self.job.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]
        self.trigger: glue.CfnTrigger | None = None
        if schedule is not None:
            self.trigger = glue.CfnTrigger(
                self,
                "Schedule",
                type="SCHEDULED",
                schedule=schedule,
                start_on_creation=True,
                description=f"Runs {self.job_name} on {schedule}",
                actions=[glue.CfnTrigger.ActionProperty(job_name=self.job_name)],
            )
            self.trigger.add_resource_dependency(self.job)

    @property
    def job_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="glue", resource="job", resource_name=self.job_name
        )
