"""AuditTrail: a CloudTrail trail that records who did what, in every region, tamper-evident.

The course notes audit the lake key's use with CloudTrail: every ``kms:Decrypt`` and
``kms:GenerateDataKey`` is a management event, so a trail that records management events
records each use of the key (who, from where, under which encryption context). S3 object
reads and writes are *data events*, recorded only for the buckets named here and billed per
event (see the README): the lake's zone buckets, so the trail answers who read or wrote
which object.

The trail writes to its own bucket (SSE-KMS, versioned, TLS-only, access-logged, tiered to
Glacier and expired by lifecycle), with log file validation (a signed digest every hour
proves whether a log file was changed or deleted), and to an encrypted CloudWatch Logs
group for search and metric filters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_blueprints.compliance import acknowledge_rule
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    allow_cloudwatch_logs,
    own_provider_log_group,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.validation import PropErrors, typed_props

CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"
#: CloudTrail accepts at most this many data resources (bucket prefixes) per trail.
MAX_DATA_EVENT_BUCKETS = 250
#: ``ReadWriteType`` values of a CloudTrail event selector.
READ_WRITE_TYPES: tuple[str, ...] = ("All", "ReadOnly", "WriteOnly")
_TRAIL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$")
_S3_MIN_GLACIER_DAYS = 1


class AuditTrail(Construct):
    """A multi-region CloudTrail trail to its own bucket and to CloudWatch Logs.

    Defaults:

    - Management events, read and write, from every region and global services (IAM,
      STS...), KMS calls included (no event source is excluded), so each use of a key is
      recorded.
    - ``data_event_buckets``: none. Each bucket given has its object-level S3 API calls
      recorded (``data_events`` ``"All"``: reads and writes; ``"ReadOnly"`` or
      ``"WriteOnly"``), up to 250 buckets.
    - Log file validation on; log files SSE-KMS with ``encryption_key`` (a new key with
      rotation when not given; CloudTrail of this trail only may use it).
    - The log bucket: SSE-KMS with the key and S3 Bucket Keys, block all public access,
      bucket owner enforced, versioned, TLS 1.2+ only, access logs to a second bucket
      (``access_logs_bucket``, same protections, expired after
      ``access_log_retention_days`` (365)); objects move to Glacier Flexible Retrieval after
      ``archive_after_days`` (90: three months stay immediately searchable) and expire after
      ``retention_days`` (2557, seven years; ``None`` keeps them), old versions after 30
      days.
    - CloudWatch Logs: a log group encrypted with the key, kept ``log_retention_days`` (365),
      written by a role only CloudTrail can assume (a customer-managed policy).
    - ``trail_name``: a name made from the construct path (the bucket and key policies name
      the trail's ARN, so the name is fixed up front).
    - ``removal_policy``: RETAIN; with DESTROY the buckets are emptied and deleted with the
      stack (``auto_delete_objects`` follows it) and the log groups are deleted too.

    Attributes: ``trail`` (``CfnTrail``), ``trail_arn``, ``trail_name``, ``key``, ``bucket``,
    ``access_logs_bucket``, ``log_group``, ``role``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        data_event_buckets: Sequence[s3.IBucket] = (),
        data_events: str = "All",
        encryption_key: kms.IKey | None = None,
        trail_name: str | None = None,
        archive_after_days: int | None = 90,
        retention_days: int | None = 2557,
        access_log_retention_days: int = 365,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        auto_delete_objects: bool | None = None,
    ) -> None:
        super().__init__(scope, id)
        # Log delivery through the bucket policy, not the legacy log-delivery ACL.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        auto_delete = (
            auto_delete_objects
            if auto_delete_objects is not None
            else removal_policy == cdk.RemovalPolicy.DESTROY
        )
        name = trail_name or _default_name(self)
        _validate(
            self.node.path,
            buckets=data_event_buckets,
            data_events=data_events,
            trail_name=name,
            archive_after_days=archive_after_days,
            retention_days=retention_days,
            access_log_retention_days=access_log_retention_days,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )
        stack = cdk.Stack.of(self)
        self.trail_name = name
        self.trail_arn = stack.format_arn(
            service="cloudtrail", resource="trail", resource_name=name
        )

        self.key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description=f"Encrypts the audit trail {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=cdk.Duration.days(7)
            if removal_policy == cdk.RemovalPolicy.DESTROY
            else None,
        )
        self._allow_cloudtrail(self.key, stack)
        allow_cloudwatch_logs(self.key)

        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(access_log_retention_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="trail/",
            lifecycle_rules=[_trail_lifecycle(archive_after_days, retention_days)],
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )
        self._allow_delivery(stack)
        for bucket in (self.bucket, self.access_logs_bucket):
            acknowledge_rule(
                bucket,
                "S3BucketReplicationEnabled",
                "Audit logs stay in the account's home region, versioned, KMS-encrypted and "
                "retained on stack deletion, with CloudTrail's signed digests proving them "
                "intact; replicate to a log-archive account when the organization has one.",
            )
        if auto_delete:
            provider_id = "Custom::S3AutoDeleteObjectsCustomResourceProvider"
            for bucket in (self.bucket, self.access_logs_bucket):
                own_provider_log_group(
                    bucket.node.find_child("AutoDeleteObjectsCustomResource"),
                    provider_id,
                    key=self.key,
                    retention_days=log_retention_days,
                    removal_policy=removal_policy,
                )

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            encryption_key=self.key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        self.role = ManagedPolicyRole(
            self,
            "LogsRole",
            assumed_by=iam.ServicePrincipal(
                CLOUDTRAIL_SERVICE,
                conditions={"StringEquals": {"aws:SourceArn": self.trail_arn}},
            ),
            description=f"CloudTrail {name} writes to its CloudWatch Logs group",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTheTrailLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

        selectors = []
        if data_event_buckets:
            selectors.append(
                cloudtrail.CfnTrail.EventSelectorProperty(
                    include_management_events=True,
                    read_write_type=data_events,
                    data_resources=[
                        cloudtrail.CfnTrail.DataResourceProperty(
                            type="AWS::S3::Object",
                            values=[f"{bucket.bucket_arn}/" for bucket in data_event_buckets],
                        )
                    ],
                )
            )
        self.trail = cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name=name,
            is_logging=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            s3_bucket_name=self.bucket.bucket_name,
            kms_key_id=self.key.key_arn,
            cloud_watch_logs_log_group_arn=self.log_group.log_group_arn,
            cloud_watch_logs_role_arn=self.role.role_arn,
            event_selectors=selectors or None,
        )
        # CloudTrail checks the bucket policy, the key policy and the role when the trail is
        # created: they come first.
        for dependency in (self.bucket.policy, self.role.grants_policy):
            if dependency is not None:
                self.trail.node.add_dependency(dependency)
        self.data_event_buckets: tuple[s3.IBucket, ...] = tuple(data_event_buckets)

    def _allow_cloudtrail(self, key: kms.IKey, stack: cdk.Stack) -> None:
        """Let CloudTrail encrypt this trail's log files with ``key`` (and describe it).
        No effect on an imported key, whose policy this app does not own."""
        source = {"StringEquals": {"aws:SourceArn": self.trail_arn}}
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudTrailToEncryptItsLogs",
                principals=[iam.ServicePrincipal(CLOUDTRAIL_SERVICE)],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    **source,
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": stack.format_arn(
                            service="cloudtrail",
                            region="*",
                            resource="trail",
                            resource_name="*",
                        )
                    },
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudTrailToDescribeTheKey",
                principals=[iam.ServicePrincipal(CLOUDTRAIL_SERVICE)],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions=source,
            )
        )

    def _allow_delivery(self, stack: cdk.Stack) -> None:
        """The bucket policy statements CloudTrail needs, for this trail only."""
        source = {"aws:SourceArn": self.trail_arn}
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSCloudTrailAclCheck",
                principals=[iam.ServicePrincipal(CLOUDTRAIL_SERVICE)],
                actions=["s3:GetBucketAcl"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringEquals": source},
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSCloudTrailWrite",
                principals=[iam.ServicePrincipal(CLOUDTRAIL_SERVICE)],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"AWSLogs/{stack.account}/*")],
                conditions={
                    "StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}
                },
            )
        )


def _default_name(scope: Construct) -> str:
    """A trail name unique in the account, stable across synths: from the construct path."""
    return cdk.Names.unique_resource_name(scope, max_length=64, separator="-")


def _trail_lifecycle(
    archive_after_days: int | None, retention_days: int | None
) -> s3.LifecycleRule:
    transitions = (
        [
            s3.Transition(
                storage_class=s3.StorageClass.GLACIER,
                transition_after=cdk.Duration.days(archive_after_days),
            )
        ]
        if archive_after_days is not None
        else None
    )
    return s3.LifecycleRule(
        id="archive-then-expire-trail-logs",
        transitions=transitions,
        expiration=cdk.Duration.days(retention_days) if retention_days is not None else None,
        noncurrent_version_expiration=cdk.Duration.days(30),
        abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
    )


def _validate(
    owner: str,
    *,
    buckets: Sequence[s3.IBucket],
    data_events: str,
    trail_name: str,
    archive_after_days: int | None,
    retention_days: int | None,
    access_log_retention_days: int,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
    auto_delete_objects: bool,
) -> None:
    errors = PropErrors(f"AuditTrail {owner}")

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    errors.require(
        len(buckets) <= MAX_DATA_EVENT_BUCKETS,
        "data_event_buckets",
        f"{len(buckets)} buckets",
        f"at most {MAX_DATA_EVENT_BUCKETS} buckets (CloudTrail's limit per trail)",
    )
    errors.require(
        all(hasattr(b, "bucket_arn") for b in buckets),
        "data_event_buckets",
        [type(b).__name__ for b in buckets],
        "S3 buckets (s3.IBucket)",
    )
    errors.require(
        data_events in READ_WRITE_TYPES,
        "data_events",
        data_events,
        f"one of {', '.join(READ_WRITE_TYPES)}",
    )
    if not cdk.Token.is_unresolved(trail_name):
        errors.require(
            isinstance(trail_name, str) and bool(_TRAIL_NAME.match(trail_name)),
            "trail_name",
            trail_name,
            "3-128 letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    if archive_after_days is not None:
        errors.require(
            whole(archive_after_days) and archive_after_days >= _S3_MIN_GLACIER_DAYS,
            "archive_after_days",
            archive_after_days,
            "a whole number of days, at least 1, or None to keep logs in S3 Standard",
        )
    if retention_days is not None:
        floor = archive_after_days + 90 if whole(archive_after_days) else 1
        errors.require(
            whole(retention_days) and retention_days >= floor,
            "retention_days",
            retention_days,
            f"a whole number of days, at least {floor} (Glacier's 90-day minimum after "
            "archive_after_days), or None to keep logs forever",
        )
    errors.require(
        whole(access_log_retention_days) and access_log_retention_days >= 1,
        "access_log_retention_days",
        access_log_retention_days,
        "a whole number of days, at least 1",
    )
    errors.require(
        log_retention_days in LOG_RETENTION,
        "log_retention_days",
        log_retention_days,
        LOG_RETENTION_ALLOWED,
    )
    errors.require(
        not (auto_delete_objects and removal_policy != cdk.RemovalPolicy.DESTROY),
        "auto_delete_objects",
        auto_delete_objects,
        "False unless removal_policy is DESTROY (emptying a bucket that is kept loses logs)",
    )
    errors.raise_if_any()
