"""SecureDataLake: the S3 data lake the course notes build everything on.

One customer-managed KMS key, one bucket per zone (``raw`` -> ``curated`` -> ``analytics`` by
default) and a server-access-logs bucket every zone logs to. Each zone bucket is encrypted
with SSE-KMS and S3 Bucket Keys, versioned, private, TLS-only, tiered by a per-zone
lifecycle, and guarded by a bucket policy that forces encryption the way the notes describe
and, when a VPC endpoint is given, keeps object data inside the VPC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_blueprints.compliance import acknowledge_rule
from ml_blueprints.constructs.shared.defaults import (
    allow_cloudwatch_logs,
    own_provider_log_group,
    pascal,
)
from ml_blueprints.constructs.shared.grants import grant_on_managed_policy
from ml_blueprints.constructs.storage.lake_props import (
    ACCESS_LOGS,
    DEFAULT_LIFECYCLES,
    DEFAULT_ZONE_LIFECYCLE,
    DEFAULT_ZONES,
    ZoneLifecycle,
    exempt_arn_problem,
    validate_lake_props,
)
from ml_blueprints.validation import PropErrors, typed_props

#: Object data actions the VPC endpoint restriction covers. Bucket-level actions
#: (``s3:PutBucketPolicy``, ``s3:DeleteBucket``, ``s3:ListBucket``) are deliberately not
#: covered, so CloudFormation can still update the policy and delete the stack.
OBJECT_DATA_ACTIONS: tuple[str, ...] = (
    "s3:GetObject*",
    "s3:PutObject*",
    "s3:DeleteObject*",
    "s3:RestoreObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)

#: What :meth:`SecureDataLake.grant_read` allows: on the objects, the bucket, the key.
READ_OBJECT_ACTIONS: tuple[str, ...] = ("s3:GetObject",)
READ_BUCKET_ACTIONS: tuple[str, ...] = ("s3:ListBucket", "s3:GetBucketLocation")
READ_KEY_ACTIONS: tuple[str, ...] = ("kms:Decrypt",)
#: What :meth:`SecureDataLake.grant_write` allows. KMS Decrypt is what S3 needs to complete
#: a multipart upload of an SSE-KMS object.
WRITE_OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
WRITE_BUCKET_ACTIONS: tuple[str, ...] = ("s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
WRITE_KEY_ACTIONS: tuple[str, ...] = ("kms:GenerateDataKey", "kms:Decrypt")

#: Services whose forwarded requests (``aws:CalledVia``) may bypass the endpoint restriction:
#: Athena reads and writes the lake with the caller's credentials from outside the VPC.
DEFAULT_EXEMPT_CALLED_VIA: tuple[str, ...] = ("athena.amazonaws.com",)


class SecureDataLake(Construct):
    """Zone buckets under one KMS key, with encryption forced by bucket policy.

    Defaults:

    - ``zones``: ``raw``, ``curated``, ``analytics`` (lowercase names, 1-20 characters).
    - ``encryption_key``: a new customer-managed key with yearly rotation.
    - ``bucket_name_prefix``: none, so CloudFormation names the buckets; with a prefix the
      buckets are ``<prefix>-<zone>`` and ``<prefix>-access-logs``.
    - ``lifecycle``: :data:`DEFAULT_LIFECYCLES`, per zone; a caller's entry replaces the
      default for that zone. Incomplete multipart uploads are aborted after
      ``abort_incomplete_uploads_after_days`` (7).
    - Every zone bucket: SSE-KMS with S3 Bucket Keys, block all public access, bucket owner
      enforced, versioning, TLS 1.2 or newer only, access logs to ``access_logs_bucket``
      under ``<zone>/``.
    - Bucket policy on every zone: deny PUTs whose ``x-amz-server-side-encryption`` header
      is anything but ``aws:kms``, whose KMS key header is not the lake's key, or that use
      SSE-C (a PUT without headers gets the default encryption); deny non-TLS requests.
    - ``vpc_endpoint``: none. When given, object data actions (:data:`OBJECT_DATA_ACTIONS`)
      that do not come through it are denied, except for principals registered with
      :meth:`exempt_from_endpoint_restriction` (or ``endpoint_exempt_principal_arns``),
      roles of this account whose names start with one of ``exempt_role_name_prefixes``
      (how roles in *other* stacks are exempted without a cyclic reference), and requests
      forwarded by ``exempt_called_via`` services (Athena). An exempted ARN must name roles
      or users of one account, with a wildcard only after a name prefix of 3 or more
      characters (:func:`exempt_arn_problem`): ``*`` would switch the restriction off.
    - Access logs bucket: SSE-KMS with the lake key (S3 log delivery is granted use of it;
      a caller's imported key must allow ``logging.s3.amazonaws.com`` itself), versioned,
      TLS-only, logs expire after ``access_log_retention_days`` (365).
    - ``removal_policy``: RETAIN. With DESTROY, ``auto_delete_objects`` defaults to True so
      the buckets are emptied and deleted with the stack; the auto-delete function is
      exempted from the endpoint restriction and logs to an encrypted log group kept
      ``log_retention_days`` (365) that is deleted with the stack too.

    Attributes: ``key``, ``buckets`` (zone -> bucket), ``access_logs_bucket``, ``zones``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        zones: Sequence[str] = DEFAULT_ZONES,
        encryption_key: kms.IKey | None = None,
        bucket_name_prefix: str | None = None,
        lifecycle: Mapping[str, ZoneLifecycle] | None = None,
        abort_incomplete_uploads_after_days: int = 7,
        access_log_retention_days: int = 365,
        log_retention_days: int = 365,
        vpc_endpoint: ec2.IVpcEndpoint | None = None,
        endpoint_exempt_principal_arns: Sequence[str] = (),
        exempt_role_name_prefixes: Sequence[str] = (),
        exempt_called_via: Sequence[str] | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        auto_delete_objects: bool | None = None,
    ) -> None:
        super().__init__(scope, id)
        # S3 log delivery through the bucket policy, not the legacy log-delivery ACL (which
        # needs ACLs enabled): set here so the lake does not depend on the app's flags.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        auto_delete = (
            auto_delete_objects
            if auto_delete_objects is not None
            else removal_policy == cdk.RemovalPolicy.DESTROY
        )
        called_via = tuple(exempt_called_via) if exempt_called_via is not None else None
        validate_lake_props(
            zones=zones,
            bucket_name_prefix=bucket_name_prefix,
            lifecycle=lifecycle or {},
            abort_days=abort_incomplete_uploads_after_days,
            access_log_retention_days=access_log_retention_days,
            log_retention_days=log_retention_days,
            vpc_endpoint=vpc_endpoint,
            exempt_arns=endpoint_exempt_principal_arns,
            exempt_role_prefixes=exempt_role_name_prefixes,
            exempt_called_via=called_via,
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )
        self.zones: tuple[str, ...] = tuple(zones)
        lifecycles = {**DEFAULT_LIFECYCLES, **(lifecycle or {})}

        self._owns_key = encryption_key is None
        self.key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description=f"Encrypts the data lake {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=cdk.Duration.days(7)
            if removal_policy == cdk.RemovalPolicy.DESTROY
            else None,
        )

        if self._owns_key:
            # The platform's log groups (flow logs aside) are encrypted with the lake key.
            allow_cloudwatch_logs(self.key)

        def name(suffix: str) -> str | None:
            return f"{bucket_name_prefix}-{suffix}" if bucket_name_prefix else None

        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            bucket_name=name(ACCESS_LOGS),
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
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(
                        abort_incomplete_uploads_after_days
                    ),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )

        self.buckets: dict[str, s3.Bucket] = {}
        for zone in self.zones:
            self.buckets[zone] = s3.Bucket(
                self,
                f"{pascal(zone)}Bucket",
                bucket_name=name(zone),
                encryption=s3.BucketEncryption.KMS,
                encryption_key=self.key,
                bucket_key_enabled=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                enforce_ssl=True,
                minimum_tls_version=1.2,
                versioned=True,
                server_access_logs_bucket=self.access_logs_bucket,
                server_access_logs_prefix=f"{zone}/",
                lifecycle_rules=_lifecycle_rules(
                    lifecycles.get(zone, DEFAULT_ZONE_LIFECYCLE),
                    abort_incomplete_uploads_after_days,
                ),
                removal_policy=removal_policy,
                auto_delete_objects=auto_delete,
            )

        for bucket in (self.access_logs_bucket, *self.buckets.values()):
            acknowledge_rule(
                bucket,
                "S3BucketReplicationEnabled",
                "Cross-region replication is a disaster-recovery decision with the cost of a "
                "second copy; within the region the lake keeps every object versioned, KMS "
                "encrypted and retained on stack deletion. Add replication for DR needs.",
            )
        self._exempt_principal_arns: list[str] = list(endpoint_exempt_principal_arns)
        self.exempt_role_name_prefixes: tuple[str, ...] = tuple(exempt_role_name_prefixes)
        for role_prefix in self.exempt_role_name_prefixes:
            self._exempt_principal_arns.append(
                f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:role/{role_prefix}*"
            )
        if auto_delete:
            self._own_auto_delete_provider(log_retention_days, removal_policy)
        self.vpc_endpoint = vpc_endpoint
        for bucket in self.buckets.values():
            self._add_encryption_policy(bucket)
            if vpc_endpoint is not None:
                self._add_endpoint_restriction(
                    bucket,
                    vpc_endpoint,
                    called_via if called_via is not None else DEFAULT_EXEMPT_CALLED_VIA,
                )

    def _own_auto_delete_provider(
        self, log_retention_days: int, removal_policy: cdk.RemovalPolicy
    ) -> None:
        """Exempt CDK's bucket-emptying function from the endpoint restriction (it runs
        outside the VPC) and give it an encrypted log group that is deleted with the stack."""
        provider_id = "Custom::S3AutoDeleteObjectsCustomResourceProvider"
        provider = cdk.Stack.of(self).node.find_child(provider_id)
        self._exempt_principal_arns.append(provider.role_arn)  # type: ignore[attr-defined]
        for bucket in (self.access_logs_bucket, *self.buckets.values()):
            own_provider_log_group(
                bucket.node.find_child("AutoDeleteObjectsCustomResource"),
                provider_id,
                key=self.key,
                retention_days=log_retention_days,
                removal_policy=removal_policy,
            )

    # ----------------------------------------------------------------------------- access

    @typed_props
    def bucket(self, zone: str) -> s3.Bucket:
        """The bucket of ``zone``; a ``ValueError`` names the zones there are."""
        if zone not in self.buckets:
            raise ValueError(
                f"SecureDataLake: invalid prop:\n  - zone={zone!r}: one of this lake's zones "
                f"({', '.join(self.zones)})"
            )
        return self.buckets[zone]

    @typed_props
    def grant_read(
        self, zone: str, grantee: iam.IGrantable, objects_key_pattern: str = "*"
    ) -> iam.Grant:
        """Let ``grantee`` read the objects of ``zone`` matching ``objects_key_pattern``
        (:data:`READ_OBJECT_ACTIONS`), list the zone's bucket (:data:`READ_BUCKET_ACTIONS`)
        and decrypt with the lake key through S3 only (:data:`READ_KEY_ACTIONS`).

        The statements go into a customer-managed policy attached to ``grantee`` (see
        :mod:`~ml_blueprints.constructs.shared.grants`), and the object wildcard, which no
        grant of object access can avoid, is acknowledged on it: the caller's app stays
        compliant without an acknowledgment of its own.
        """
        return self._grant("grant_read", zone, grantee, objects_key_pattern, write=False)

    @typed_props
    def grant_write(
        self, zone: str, grantee: iam.IGrantable, objects_key_pattern: str = "*"
    ) -> iam.Grant:
        """Let ``grantee`` write and delete the objects of ``zone`` matching
        ``objects_key_pattern`` and manage their multipart uploads
        (:data:`WRITE_OBJECT_ACTIONS`, :data:`WRITE_BUCKET_ACTIONS`), and encrypt with the
        lake key through S3 only (:data:`WRITE_KEY_ACTIONS`). Like :meth:`grant_read`, a
        customer-managed policy with its unavoidable wildcard acknowledged."""
        return self._grant("grant_write", zone, grantee, objects_key_pattern, write=True)

    def _grant(
        self, method: str, zone: str, grantee: iam.IGrantable, pattern: str, *, write: bool
    ) -> iam.Grant:
        errors = PropErrors(f"SecureDataLake.{method}")
        errors.require(
            zone in self.buckets,
            "zone",
            zone,
            f"one of this lake's zones ({', '.join(self.zones)})",
        )
        errors.require(
            cdk.Token.is_unresolved(pattern) or bool(re.fullmatch(r"[^/\s][^\s]{0,1023}", pattern)),
            "objects_key_pattern",
            pattern,
            "a key or key pattern such as '*' or 'events/*' (no leading '/', no spaces)",
        )
        errors.raise_if_any()
        bucket = self.buckets[zone]
        objects = bucket.arn_for_objects(pattern)
        region = cdk.Stack.of(self).region
        statements = [
            iam.PolicyStatement(
                actions=list(WRITE_OBJECT_ACTIONS if write else READ_OBJECT_ACTIONS),
                resources=[objects],
            ),
            iam.PolicyStatement(
                actions=list(WRITE_BUCKET_ACTIONS if write else READ_BUCKET_ACTIONS),
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                actions=list(WRITE_KEY_ACTIONS if write else READ_KEY_ACTIONS),
                resources=[self.key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                    # With S3 Bucket Keys the encryption context is the bucket's ARN.
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [
                            bucket.bucket_arn,
                            bucket.arn_for_objects("*"),
                        ]
                    },
                },
            ),
        ]
        verb = "writes" if write else "reads"
        return grant_on_managed_policy(
            grantee,
            statements,
            wildcard_resources=[objects]
            if "*" in pattern or cdk.Token.is_unresolved(pattern)
            else [],
            reason=f"SecureDataLake.{method}: the grantee {verb} objects whose names are only "
            f"known at run time; the wildcard is the key pattern {pattern!r} of the {zone} "
            "zone it was granted, and the actions are listed one by one.",
        )

    @typed_props
    def expire_objects(self, zone: str, prefix: str, days: int) -> None:
        """Delete objects under ``prefix`` in ``zone`` ``days`` after they are written (and
        their old versions a day after that): for outputs such as query results."""
        errors = PropErrors("SecureDataLake.expire_objects")
        errors.require(zone in self.buckets, "zone", zone, f"one of {', '.join(self.zones)}")
        errors.require(
            isinstance(prefix, str) and bool(re.fullmatch(r"[a-z0-9][a-z0-9_\-/]*/", prefix)),
            "prefix",
            prefix,
            "a key prefix ending in '/', e.g. 'athena-results/'",
        )
        errors.require(
            isinstance(days, int) and not isinstance(days, bool) and days >= 1,
            "days",
            days,
            "a whole number of days, at least 1",
        )
        errors.raise_if_any()
        self.buckets[zone].add_lifecycle_rule(
            id=f"expire-{prefix.rstrip('/').replace('/', '-')}",
            prefix=prefix,
            expiration=cdk.Duration.days(days),
            noncurrent_version_expiration=cdk.Duration.days(1),
        )

    @typed_props
    def outside_role_name(
        self, scope: Construct, purpose: str, role_name: str | None, *, owner: str
    ) -> str | None:
        """The name to give a service role in ``scope`` that reaches the lake from outside
        the VPC (Firehose, Glue). In the lake's own stack the role is exempted by ARN (see
        :meth:`admit_outside_role`) and any name will do; from another stack an ARN would be
        a cyclic reference, so the role must be named with one of
        ``exempt_role_name_prefixes``: a name is made from the first one when none is
        given. Raises a ``ValueError`` (naming ``owner``) when that is impossible."""
        same_stack = cdk.Stack.of(scope).node.path == cdk.Stack.of(self).node.path
        if role_name is None and not same_stack and self.exempt_role_name_prefixes:
            suffix = cdk.Names.unique_id(scope)[-8:].lower()
            role_name = f"{self.exempt_role_name_prefixes[0]}{purpose}-{suffix}"
        errors = PropErrors(owner)
        if role_name is not None:
            errors.require(
                bool(re.fullmatch(r"[A-Za-z0-9+=,.@_-]{1,64}", role_name)),
                f"{purpose}_role_name",
                role_name,
                "an IAM role name: 1-64 letters, digits and +=,.@_-",
            )
        if not same_stack and self.vpc_endpoint is not None:
            errors.require(
                role_name is not None and self.exempts_role_name(role_name),
                f"{purpose}_role_name",
                role_name,
                "a name starting with one of the lake's exempt_role_name_prefixes "
                f"({', '.join(self.exempt_role_name_prefixes) or 'none'}): the lake is in "
                "another stack and denies object access from outside its VPC endpoint to "
                "every other principal",
            )
        errors.raise_if_any()
        return role_name

    @typed_props
    def admit_outside_role(self, role: iam.IRole) -> None:
        """Exempt ``role`` from the endpoint restriction if it is in the lake's stack (roles
        in other stacks are exempt by name: see :meth:`outside_role_name`)."""
        if cdk.Stack.of(role).node.path == cdk.Stack.of(self).node.path:
            self.exempt_from_endpoint_restriction(role)

    @typed_props
    def exempts_role_name(self, role_name: str) -> bool:
        """Whether a role called ``role_name`` is exempt by one of the name prefixes."""
        return any(role_name.startswith(p) for p in self.exempt_role_name_prefixes)

    @typed_props
    def exempt_from_endpoint_restriction(self, principal: iam.IRole | str) -> None:
        """Let ``principal`` (a role, or an IAM ARN pattern) use object data from outside the
        VPC endpoint. For AWS services that reach S3 from their own network with their own
        role: Firehose delivery, Glue crawlers and jobs. No effect without ``vpc_endpoint``.
        """
        if isinstance(principal, str):
            errors = PropErrors("SecureDataLake.exempt_from_endpoint_restriction")
            why = exempt_arn_problem(principal)
            errors.require(why is None, "principal", principal, why or "")
            errors.raise_if_any()
        arn = principal if isinstance(principal, str) else principal.role_arn
        self._exempt_principal_arns.append(arn)

    @property
    def exempt_principal_arns(self) -> tuple[str, ...]:
        """The principals exempt from the VPC endpoint restriction so far."""
        return tuple(self._exempt_principal_arns)

    # ---------------------------------------------------------------------------- policies

    def _add_encryption_policy(self, bucket: s3.Bucket) -> None:
        objects = bucket.arn_for_objects("*")
        sse = "s3:x-amz-server-side-encryption"
        sse_key = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        sse_c = "s3:x-amz-server-side-encryption-customer-algorithm"
        for statement in (
            iam.PolicyStatement(
                sid="DenyEncryptionOtherThanKms",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={"StringNotEquals": {sse: "aws:kms"}, "Null": {sse: "false"}},
            ),
            iam.PolicyStatement(
                sid="DenyKmsKeyOtherThanLakeKey",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={
                    "StringNotEquals": {sse_key: self.key.key_arn},
                    "Null": {sse_key: "false"},
                },
            ),
            iam.PolicyStatement(
                sid="DenyCustomerProvidedKeys",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={"Null": {sse_c: "false"}},
            ),
        ):
            bucket.add_to_resource_policy(statement)

    def _add_endpoint_restriction(
        self, bucket: s3.Bucket, endpoint: ec2.IVpcEndpoint, called_via: Sequence[str]
    ) -> None:
        conditions: dict[str, object] = {
            "StringNotEquals": {"aws:SourceVpce": endpoint.vpc_endpoint_id},
            "ArnNotLike": cdk.Lazy.any(_ExemptPrincipals(self._exempt_principal_arns)),
        }
        if called_via:
            conditions["ForAllValues:StringNotEquals"] = {"aws:CalledVia": list(called_via)}
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyObjectAccessOutsideVpcEndpoint",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(OBJECT_DATA_ACTIONS),
                resources=[bucket.arn_for_objects("*")],
                conditions=conditions,
            )
        )


@jsii.implements(cdk.IStableAnyProducer)
class _ExemptPrincipals:
    """Renders the exempt principals at synth time, so roles registered after the lake was
    built are included; renders nothing (no condition) when there are none."""

    def __init__(self, arns: list[str]) -> None:
        self._arns = arns

    def produce(self) -> object:
        return {"aws:PrincipalArn": list(self._arns)} if self._arns else None


def _lifecycle_rules(zone: ZoneLifecycle, abort_days: int) -> list[s3.LifecycleRule]:
    rules = [
        s3.LifecycleRule(
            id="abort-incomplete-multipart-uploads",
            abort_incomplete_multipart_upload_after=cdk.Duration.days(abort_days),
        )
    ]
    transitions = []
    if zone.infrequent_access_after_days is not None:
        transitions.append(
            s3.Transition(
                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                transition_after=cdk.Duration.days(zone.infrequent_access_after_days),
            )
        )
    if zone.glacier_after_days is not None:
        transitions.append(
            s3.Transition(
                storage_class=s3.StorageClass.GLACIER,
                transition_after=cdk.Duration.days(zone.glacier_after_days),
            )
        )
    expiration = zone.expire_after_days
    noncurrent = zone.noncurrent_versions_expire_after_days
    if transitions or expiration is not None or noncurrent is not None:
        rules.append(
            s3.LifecycleRule(
                id="tiering-and-expiry",
                transitions=transitions or None,
                expiration=cdk.Duration.days(expiration) if expiration is not None else None,
                noncurrent_version_expiration=cdk.Duration.days(noncurrent)
                if noncurrent is not None
                else None,
            )
        )
    return rules
