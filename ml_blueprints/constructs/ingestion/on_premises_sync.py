"""OnPremisesSync: files from an on-premises NFS or SMB share into the lake with DataSync.

The course notes' DataSync: an agent next to the file server (a VM you deploy and activate
first) reads the share and sends the files, over TLS, to the DataSync service, which writes
them into the lake. The task runs on a schedule, copies only what changed since the last
run, verifies what it transferred against the source, never deletes in the lake what was
deleted at the source, and overwrites changed files (the bucket is versioned, so the old
version stays). Every execution logs each transferred file; a report of every file that
failed to transfer or verify is written under ``errors/<prefix>/``, and a failed execution
alerts.

DataSync mirrors the share's directory tree under the prefix: it does not add date folders
of its own (a share already laid out by date keeps that layout).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_datasync as datasync
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.ingestion.common import (
    SCHEDULE_ALLOWED,
    grant_secret_read,
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
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

AGENT_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):datasync:[a-z0-9-]+:\d{12}:"
    r"agent/agent-[0-9a-z]{17}$"
)
VERIFY_MODES = ("ONLY_FILES_TRANSFERRED", "POINT_IN_TIME_CONSISTENT")
NFS_VERSIONS = ("AUTOMATIC", "NFS3", "NFS4_0", "NFS4_1")
SMB_VERSIONS = ("SMB3", "SMB2", "AUTOMATIC")
_SERVER = re.compile(
    r"^(?=.{1,255}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_PATH = re.compile(r"^/[A-Za-z0-9_.\-/$ ]{0,4095}$")
_SMB_USER = re.compile(r"^[^\x22\x5B\x5D/\\:;|=,+*?\x3C\x3E]{1,104}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]((\.|-+)?[A-Za-z0-9]){0,252}$")


@dataclass(frozen=True)
class NfsShare(TypedProps):
    """An NFS export: ``server`` (DNS name or IPv4 address the agent reaches), ``path``
    (the exported directory, e.g. ``/exports/sensors``), ``version`` (``AUTOMATIC``:
    negotiated; or ``NFS3``, ``NFS4_0``, ``NFS4_1``). The agent mounts it read-only for
    transfers from it; NFS itself is not encrypted, so keep the agent on the file server's
    network (the agent's own traffic to AWS is TLS)."""

    server: str
    path: str
    version: str = "AUTOMATIC"

    def validate(self, errors: PropErrors, prop: str) -> None:
        _server_and_path(errors, prop, self.server, self.path)
        errors.require(
            self.version in NFS_VERSIONS,
            f"{prop}.version",
            self.version,
            f"one of {', '.join(NFS_VERSIONS)}",
        )


@dataclass(frozen=True)
class SmbShare(TypedProps):
    """An SMB share: ``server``, ``path`` (``/share/optional/subfolder``), the ``user``
    (and ``domain``) DataSync mounts it as, and ``password_secret``, a Secrets Manager
    secret holding that user's password (DataSync reads it with a role of this construct;
    the password never appears in the template). ``version``: ``SMB3`` (encrypted in
    transit; the default), ``SMB2`` or ``AUTOMATIC``."""

    server: str
    path: str
    user: str
    password_secret: secretsmanager.ISecret
    domain: str | None = None
    version: str = "SMB3"

    def validate(self, errors: PropErrors, prop: str) -> None:
        _server_and_path(errors, prop, self.server, self.path)
        errors.require(
            isinstance(self.user, str) and bool(_SMB_USER.match(self.user)),
            f"{prop}.user",
            self.user,
            '1-104 characters, none of "[]/\\:;|=,+*?<>',
        )
        if self.domain is not None:
            errors.require(
                isinstance(self.domain, str) and bool(_DOMAIN.match(self.domain)),
                f"{prop}.domain",
                self.domain,
                "a Windows domain name such as corp.example.com",
            )
        errors.require(
            self.version in SMB_VERSIONS,
            f"{prop}.version",
            self.version,
            f"one of {', '.join(SMB_VERSIONS)}",
        )


class OnPremisesSync(Construct):
    """A scheduled, verified DataSync task from ``source`` (an NFS or SMB share, reached
    through the activated agents ``agent_arns``) into ``prefix`` of ``zone`` in ``lake``.

    Defaults:

    - ``prefix``: ``onprem/<id in lower case>``; ``zone``: ``raw``.
    - ``schedule``: ``cron(0 2 * * ? *)`` (daily, 02:00 UTC; at least an hour apart, as
      DataSync requires). Runs queue behind a running one instead of overlapping.
    - Transfer only what changed; ``verify_mode`` ``ONLY_FILES_TRANSFERRED`` (checksums of
      what was transferred, compared with the source at the end; or
      ``POINT_IN_TIME_CONSISTENT``: the whole destination against the whole source);
      files deleted at the source are kept in the lake; changed files overwrite (the
      previous version stays, the bucket is versioned). ``bandwidth_mbps``: None
      (unlimited). ``excludes``: none (DataSync filter patterns such as ``*.tmp``).
    - Logs: every transferred file (log level ``TRANSFER``) to a log group encrypted with
      the lake key, kept ``log_retention_days`` (365), which only DataSync of this account
      may write.
    - A task report of every file that failed to transfer, verify or be skipped, under
      ``errors/<prefix>/reports/``; a failed execution is published to ``alerts`` (a new
      :class:`AlertTopic` when not given) by an EventBridge rule.
    - The bucket access role (named ``role_name``, or from the lake's exempt prefix when
      the lake is in another stack: DataSync writes from its own network) may write the
      prefix and the report prefix with the lake key; nothing else. For an SMB share a
      second role may read its password secret only.

    Attributes: ``task``, ``source_location``, ``destination``, ``role``,
    ``log_group``, ``failure_rule``, ``data_prefix``, ``error_prefix``, ``alerts``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        agent_arns: Sequence[str],
        source: NfsShare | SmbShare,
        lake: SecureDataLake,
        zone: str = "raw",
        prefix: str | None = None,
        schedule: str = "cron(0 2 * * ? *)",
        verify_mode: str = "ONLY_FILES_TRANSFERRED",
        bandwidth_mbps: int | None = None,
        excludes: Sequence[str] = (),
        task_name: str | None = None,
        role_name: str | None = None,
        alerts: AlertTopic | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        prefix = (
            prefix if prefix is not None else "onprem/" + re.sub(r"[^a-z0-9]+", "-", id.lower())
        )
        errors = PropErrors(f"OnPremisesSync {self.node.path}")
        agents = list(agent_arns) if not isinstance(agent_arns, str) else [agent_arns]
        errors.require(
            0 < len(agents) <= 4
            and all(
                isinstance(a, str) and (cdk.Token.is_unresolved(a) or AGENT_ARN.match(a))
                for a in agents
            ),
            "agent_arns",
            agent_arns,
            "1 to 4 ARNs of activated DataSync agents, "
            "arn:aws:datasync:<region>:<account>:agent/agent-<17 characters>",
        )
        if errors.require(
            isinstance(source, NfsShare | SmbShare), "source", source, "an NfsShare or SmbShare"
        ):
            source.validate(errors, "source")
        errors.require(
            zone in lake.zones, "zone", zone, f"one of the lake's zones ({', '.join(lake.zones)})"
        )
        require_prefix(errors, "prefix", prefix)
        errors.require(
            valid_schedule(schedule, min_minutes=60),
            "schedule",
            schedule,
            SCHEDULE_ALLOWED + ", at least an hour apart",
        )
        errors.require(
            verify_mode in VERIFY_MODES,
            "verify_mode",
            verify_mode,
            f"one of {', '.join(VERIFY_MODES)}: transfers are always verified",
        )
        if bandwidth_mbps is not None:
            errors.require(
                isinstance(bandwidth_mbps, int)
                and not isinstance(bandwidth_mbps, bool)
                and 1 <= bandwidth_mbps <= 10_000,
                "bandwidth_mbps",
                bandwidth_mbps,
                "1 to 10000 megabits per second, or None for no limit",
            )
        errors.require(
            not isinstance(excludes, str)
            and all(isinstance(e, str) and e and "|" not in e for e in excludes),
            "excludes",
            excludes,
            "a list of DataSync filter patterns without '|', e.g. ['*.tmp', '/scratch']",
        )
        if task_name is not None:
            errors.require(
                bool(re.fullmatch(r"[a-zA-Z0-9\s+=._:@/-]{1,256}", task_name)),
                "task_name",
                task_name,
                "1-256 letters, digits, spaces and +=._:@/-",
            )
        errors.require(
            log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        errors.raise_if_any()
        role_name = lake.outside_role_name(self, "datasync", role_name, owner="OnPremisesSync")

        stack = cdk.Stack.of(self)
        bucket = lake.bucket(zone)
        self.data_prefix = prefix
        self.error_prefix = f"errors/{prefix}"
        self.alerts = alerts or AlertTopic(self, "Alerts", removal_policy=removal_policy)
        datasync_arns = stack.format_arn(service="datasync", resource="*")
        trusted = iam.ServicePrincipal("datasync.amazonaws.com").with_conditions(
            {
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": datasync_arns},
            }
        )

        # --- logs ----------------------------------------------------------------------
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=lake.key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        logs.ResourcePolicy(
            self,
            "LogsPolicy",
            policy_statements=[
                iam.PolicyStatement(
                    sid="DataSyncWritesItsLog",
                    principals=[iam.ServicePrincipal("datasync.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {"aws:SourceArn": datasync_arns},
                    },
                )
            ],
        )

        # --- the destination ----------------------------------------------------------
        self.role = ManagedPolicyRole(
            self,
            "BucketAccessRole",
            role_name=role_name,
            assumed_by=trusted,
            description=f"DataSync writes {self.node.path}'s prefix of the {zone} zone",
        )
        objects = [f"{bucket.bucket_arn}/{prefix}/*", f"{bucket.bucket_arn}/{self.error_prefix}/*"]
        for statement in (
            iam.PolicyStatement(
                sid="FindThePrefix",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="WriteThePrefixAndItsReports",
                # The actions DataSync documents for an S3 destination. Deleted source files
                # are kept (PreserveDeletedFiles), and the bucket is versioned.
                actions=[
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:GetObject",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersion",
                    "s3:GetObjectVersionTagging",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                ],
                resources=objects,
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
        lake.admit_outside_role(self.role)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            objects,
            "DataSync writes the share's files (and its reports) under names it finds at run "
            "time; the wildcards are this task's prefix and its error prefix in one zone.",
        )
        self.destination = datasync.CfnLocationS3(
            self,
            "Destination",
            s3_bucket_arn=bucket.bucket_arn,
            subdirectory=f"/{prefix}/",
            s3_storage_class="STANDARD",
            s3_config=datasync.CfnLocationS3.S3ConfigProperty(
                bucket_access_role_arn=self.role.role_arn
            ),
        )
        self.destination.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]

        # --- the source -----------------------------------------------------------------
        self.secret_role: ManagedPolicyRole | None = None
        if isinstance(source, NfsShare):
            self.source_location: cdk.CfnResource = datasync.CfnLocationNFS(
                self,
                "Source",
                server_hostname=source.server,
                subdirectory=source.path,
                on_prem_config=datasync.CfnLocationNFS.OnPremConfigProperty(agent_arns=agents),
                mount_options=datasync.CfnLocationNFS.MountOptionsProperty(version=source.version),
            )
        else:
            self.secret_role = ManagedPolicyRole(
                self,
                "SecretAccessRole",
                assumed_by=trusted,
                description=f"DataSync reads the SMB password of {self.node.path}",
            )
            grant_secret_read(self.secret_role, source.password_secret)
            location = datasync.CfnLocationSMB(
                self,
                "Source",
                agent_arns=agents,
                server_hostname=source.server,
                subdirectory=source.path,
                user=source.user,
                domain=source.domain,
                authentication_type="NTLM",
                mount_options=datasync.CfnLocationSMB.MountOptionsProperty(version=source.version),
                custom_secret_config=datasync.CfnLocationSMB.CustomSecretConfigProperty(
                    secret_arn=source.password_secret.secret_arn,
                    secret_access_role_arn=self.secret_role.role_arn,
                ),
            )
            location.node.add_dependency(self.secret_role.grants_policy)  # type: ignore[arg-type]
            self.source_location = location

        # --- the task -------------------------------------------------------------------
        self.task = datasync.CfnTask(
            self,
            "Task",
            name=task_name,
            source_location_arn=self.source_location.ref,
            destination_location_arn=self.destination.ref,
            cloud_watch_log_group_arn=self.log_group.log_group_arn,
            schedule=datasync.CfnTask.TaskScheduleProperty(
                schedule_expression=schedule.strip(), status="ENABLED"
            ),
            excludes=[
                datasync.CfnTask.FilterRuleProperty(
                    filter_type="SIMPLE_PATTERN", value="|".join(excludes)
                )
            ]
            if excludes
            else None,
            options=datasync.CfnTask.OptionsProperty(
                verify_mode=verify_mode,
                transfer_mode="CHANGED",
                overwrite_mode="ALWAYS",
                preserve_deleted_files="PRESERVE",
                log_level="TRANSFER",
                task_queueing="ENABLED",
                bytes_per_second=bandwidth_mbps * 125_000 if bandwidth_mbps else -1,
            ),
            task_report_config=datasync.CfnTask.TaskReportConfigProperty(
                destination=datasync.CfnTask.DestinationProperty(
                    s3=datasync.CfnTask.S3Property(
                        s3_bucket_arn=bucket.bucket_arn,
                        subdirectory=f"{self.error_prefix}/reports/",
                        bucket_access_role_arn=self.role.role_arn,
                    )
                ),
                output_type="STANDARD",
                report_level="ERRORS_ONLY",
                object_version_ids="INCLUDE",
            ),
        )
        self.task.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]

        self.failure_rule = events.Rule(
            self,
            "FailedExecution",
            description=f"A DataSync execution of {self.node.path} failed",
            event_pattern=events.EventPattern(
                source=["aws.datasync"],
                detail_type=["DataSync Task Execution State Change"],
                resources=events.Match.prefix(self.task.attr_task_arn),
                detail={"State": ["ERROR"]},
            ),
            targets=[targets.SnsTopic(self.alerts.topic)],
        )

    @property
    def task_arn(self) -> str:
        return self.task.attr_task_arn


def _server_and_path(errors: PropErrors, prop: str, server: object, path: object) -> None:
    errors.require(
        isinstance(server, str) and bool(_SERVER.match(server)),
        f"{prop}.server",
        server,
        "the file server's DNS name or IPv4 address, as the agent reaches it",
    )
    errors.require(
        isinstance(path, str) and bool(_PATH.match(path)) and "/../" not in f"{path}/",
        f"{prop}.path",
        path,
        "an absolute path on the server such as /exports/sensors (letters, digits, "
        "'_', '.', '-', '$', spaces)",
    )
