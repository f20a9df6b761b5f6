"""Warehouse: Redshift Serverless in the private subnets, querying the lake with Spectrum.

The course notes' serving layer: Redshift for warehousing and Spectrum queries over S3.
Analysts query the curated zone's tables (catalogued by the analytics layer's Glue
database) as an external schema, without loading them; the warehouse costs nothing while
no query runs and has a ceiling on what queries can spend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_redshiftserverless as redshiftserverless
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.serving.warehouse_setup import (
    EXTERNAL_SCHEMA_TYPE,
    USAGE_LIMIT_TYPE,
    SetupFunction,
)
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
    allow_cloudwatch_logs,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

#: The smallest base capacity Redshift Serverless accepts (RPUs): 4 (warehouses under 32 TB).
MIN_BASE_CAPACITY = 4
BASE_CAPACITY_ALLOWED = (
    "4, a multiple of 8 from 8 to 512, or a multiple of 32 from 512 to 1024 RPUs "
    "(1024 only in some regions)"
)
#: Every log a namespace can export: connections, user changes, every query.
LOG_EXPORTS: tuple[str, ...] = ("connectionlog", "userlog", "useractivitylog")
#: Glue catalog actions Spectrum needs to read tables and partitions (nothing that writes).
CATALOG_READ_ACTIONS: tuple[str, ...] = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
#: S3 actions Spectrum needs to read a zone.
OBJECT_READ_ACTIONS: tuple[str, ...] = ("s3:GetObject",)
BUCKET_READ_ACTIONS: tuple[str, ...] = ("s3:ListBucket", "s3:GetBucketLocation")
PERIODS = ("daily", "weekly", "monthly")
BREACH_ACTIONS = ("log", "emit-metric", "deactivate")
#: Ports a workgroup can listen on.
PORT_RANGES = ((5431, 5455), (8191, 8215))
#: ``max_query_execution_time``: seconds a query may run before it is cancelled.
MAX_QUERY_SECONDS = (60, 86399)

_NAME = re.compile(r"^[a-z0-9-]{3,64}$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,126}$")
_ADMIN = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_DEFAULT_ADMINS = frozenset({"admin", "awsuser", "root", "master"})


@dataclass(frozen=True)
class RpuHoursLimit(TypedProps):
    """A ceiling on the workgroup's compute, in RPU-hours per ``period``.

    Defaults: 32 RPU-hours a ``daily`` period (8 hours of querying at the 4-RPU base;
    about $12 a day at us-east-1's $0.375 per RPU-hour), ``breach_action`` ``deactivate``
    (user queries are refused until the period ends). ``emit-metric`` publishes a
    CloudWatch metric to alarm on instead, ``log`` only records the breach.
    """

    rpu_hours: int = 32
    period: str = "daily"
    breach_action: str = "deactivate"

    def validate(self, errors: PropErrors, prop: str) -> None:
        errors.require(
            isinstance(self.rpu_hours, int)
            and not isinstance(self.rpu_hours, bool)
            and 1 <= self.rpu_hours <= 999_999,
            f"{prop}.rpu_hours",
            self.rpu_hours,
            "a whole number of RPU-hours from 1 to 999999",
        )
        errors.require(
            self.period in PERIODS, f"{prop}.period", self.period, f"one of {', '.join(PERIODS)}"
        )
        errors.require(
            self.breach_action in BREACH_ACTIONS,
            f"{prop}.breach_action",
            self.breach_action,
            f"one of {', '.join(BREACH_ACTIONS)}",
        )


def is_valid_base_capacity(rpus: object) -> bool:
    """Whether Redshift Serverless accepts ``rpus`` as a workgroup's base capacity."""
    if not isinstance(rpus, int) or isinstance(rpus, bool):
        return False
    return (
        rpus == MIN_BASE_CAPACITY
        or (8 <= rpus <= 512 and rpus % 8 == 0)
        or (512 <= rpus <= 1024 and rpus % 32 == 0)
    )


class Warehouse(Construct):
    """A Redshift Serverless namespace and workgroup, with Spectrum over the lake.

    Defaults:

    - Namespace ``namespace_name`` (generated from the construct path when not given):
      database ``database_name`` (``warehouse``), admin ``admin_username``
      (``warehouse_admin``) whose password Redshift generates and keeps in Secrets
      Manager (``ManageAdminPassword``; no password in the template), encrypted with
      ``encryption_key`` (a new customer-managed key with rotation when not given; the
      secret too), connection, user and user-activity logs exported to CloudWatch.
    - Workgroup ``workgroup_name`` (the namespace's name) in ``network``'s private subnets
      (Redshift Serverless needs them in at least three availability zones), not publicly
      accessible, enhanced VPC routing on (COPY/UNLOAD go through the VPC's S3 endpoint),
      ``base_capacity`` :data:`MIN_BASE_CAPACITY` (4 RPUs, the smallest accepted), port
      5439, SSL required, user activity logged, queries cancelled after
      ``max_query_seconds`` (3600).
    - ``usage_limits``: one :class:`RpuHoursLimit` (32 RPU-hours a day, then queries are
      refused): a runaway query has a ceiling. One limit per period.
    - A security group with no inbound rule (add clients with :meth:`allow_from`) and
      HTTPS out only (to the VPC's gateway endpoints).
    - A Spectrum role attached to the namespace that can read only the ``spectrum_zones``
      (``curated``, ``analytics``) and the ``catalog_database_name`` Glue database's
      tables, named with the lake's exempt prefix (Spectrum reads S3 from outside the VPC),
      and assumable by Redshift only for this account's Serverless database users (the
      workgroup's id cannot be named: it would make a dependency cycle).
    - External schema ``external_schema_name`` (``lake``) over the Glue database, created
      at deploy time (and dropped when removed) by :class:`SetupFunction`.
    - ``removal_policy``: RETAIN for the namespace (the data) and the key.

    It costs nothing while no query runs: compute is billed per RPU-second of queries
    (minimum 60 s each), storage per GB-month.

    Attributes: ``namespace``, ``workgroup``, ``key``, ``security_group``,
    ``spectrum_role``, ``setup``, ``external_schema``, ``usage_limits``,
    ``namespace_name``, ``workgroup_name``, ``database_name``, ``port``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        network: PrivateNetwork,
        catalog_database_name: str,
        namespace_name: str | None = None,
        workgroup_name: str | None = None,
        database_name: str = "warehouse",
        admin_username: str = "warehouse_admin",
        external_schema_name: str = "lake",
        spectrum_zones: Sequence[str] = ("curated", "analytics"),
        spectrum_role_name: str | None = None,
        base_capacity: int = MIN_BASE_CAPACITY,
        usage_limits: Sequence[RpuHoursLimit] = (RpuHoursLimit(),),
        max_query_seconds: int = 3600,
        port: int = 5439,
        encryption_key: kms.IKey | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        unique = cdk.Names.unique_resource_name(self, max_length=60, separator="-").lower()
        generated = re.sub(r"[^a-z0-9-]", "", unique).strip("-")
        self.namespace_name = namespace_name if namespace_name is not None else generated
        self.workgroup_name = workgroup_name if workgroup_name is not None else self.namespace_name
        self.database_name = database_name
        self.port = port
        subnets = network.vpc.select_subnets(subnet_group_name="Private")
        _validate(
            self.node.path,
            lake=lake,
            subnet_count=len(subnets.subnet_ids),
            catalog_database_name=catalog_database_name,
            namespace_name=self.namespace_name,
            workgroup_name=self.workgroup_name,
            database_name=database_name,
            admin_username=admin_username,
            external_schema_name=external_schema_name,
            spectrum_zones=spectrum_zones,
            base_capacity=base_capacity,
            usage_limits=usage_limits,
            max_query_seconds=max_query_seconds,
            port=port,
            log_retention_days=log_retention_days,
        )
        role_name = lake.outside_role_name(self, "spectrum", spectrum_role_name, owner="Warehouse")

        self.key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description=f"Encrypts the warehouse {self.node.path}, its admin secret and logs",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=cdk.Duration.days(7)
            if removal_policy == cdk.RemovalPolicy.DESTROY
            else None,
        )
        if encryption_key is None:
            allow_cloudwatch_logs(self.key)

        self.spectrum_role = self._spectrum_role(
            lake, catalog_database_name, spectrum_zones, role_name
        )
        self.namespace = redshiftserverless.CfnNamespace(
            self,
            "Namespace",
            namespace_name=self.namespace_name,
            db_name=database_name,
            admin_username=admin_username,
            manage_admin_password=True,
            admin_password_secret_kms_key_id=self.key.key_arn,
            kms_key_id=self.key.key_arn,
            iam_roles=[self.spectrum_role.role_arn],
            log_exports=list(LOG_EXPORTS),
        )
        self.namespace.apply_removal_policy(removal_policy)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="Redshift Serverless workgroup: clients added with Warehouse.allow_from",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS to the VPC's S3 gateway endpoint (enhanced VPC routing)",
        )
        parameters = {
            "require_ssl": "true",
            "enable_user_activity_logging": "true",
            "max_query_execution_time": str(max_query_seconds),
        }
        self.workgroup = redshiftserverless.CfnWorkgroup(
            self,
            "Workgroup",
            workgroup_name=self.workgroup_name,
            namespace_name=self.namespace_name,
            base_capacity=base_capacity,
            enhanced_vpc_routing=True,
            publicly_accessible=False,
            port=port,
            subnet_ids=subnets.subnet_ids,
            security_group_ids=[self.security_group.security_group_id],
            config_parameters=[
                redshiftserverless.CfnWorkgroup.ConfigParameterProperty(
                    parameter_key=key, parameter_value=value
                )
                for key, value in parameters.items()
            ],
        )
        self.workgroup.add_resource_dependency(self.namespace)

        self.setup = SetupFunction(
            self,
            "Setup",
            workgroup_arn=self.workgroup.attr_workgroup_workgroup_arn,
            namespace_arn=self.namespace.attr_namespace_namespace_arn,
            namespace_name=self.namespace_name,
            admin_username=admin_username,
            key=self.key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.external_schema = self.setup.resource(
            self,
            "ExternalSchema",
            EXTERNAL_SCHEMA_TYPE,
            {
                "WorkgroupName": self.workgroup.attr_workgroup_workgroup_name,
                "NamespaceName": self.namespace_name,
                "Database": database_name,
                "SchemaName": external_schema_name,
                "CatalogDatabase": catalog_database_name,
                "IamRoleArn": self.spectrum_role.role_arn,
            },
        )
        # Spectrum's permissions are in place before the schema is created (and removed
        # only after it is dropped).
        self.external_schema.node.add_dependency(self.spectrum_role.grants_policy)  # type: ignore[arg-type]
        self.external_schema_name = external_schema_name
        self.usage_limits: dict[str, cdk.CustomResource] = {}
        for limit in usage_limits:
            resource = self.setup.resource(
                self,
                f"{limit.period.capitalize()}UsageLimit",
                USAGE_LIMIT_TYPE,
                {
                    "WorkgroupArn": self.workgroup.attr_workgroup_workgroup_arn,
                    "Amount": limit.rpu_hours,
                    "Period": limit.period,
                    "BreachAction": limit.breach_action,
                },
            )
            self.usage_limits[limit.period] = resource

    # ----------------------------------------------------------------------------- access

    @property
    def endpoint_address(self) -> str:
        """The workgroup's endpoint host name (resolvable inside the VPC)."""
        return self.workgroup.attr_workgroup_endpoint_address

    @typed_props
    def allow_from(self, peer: ec2.IPeer, description: str) -> None:
        """Let ``peer`` (a security group, or a CIDR inside the VPC) connect on the port."""
        self.security_group.add_ingress_rule(peer, ec2.Port.tcp(self.port), description)

    # ---------------------------------------------------------------------------- builders

    def _spectrum_role(
        self,
        lake: SecureDataLake,
        catalog_database_name: str,
        zones: Sequence[str],
        role_name: str | None,
    ) -> ManagedPolicyRole:
        stack = cdk.Stack.of(self)
        # A Serverless database user is dbuser:serverless-<account id>-<workgroup id>/<user>
        # (https://docs.aws.amazon.com/redshift/latest/mgmt/authorizing-redshift-service-database-users.html).
        # The workgroup's id is only known once it exists, and the workgroup needs the
        # namespace, which needs this role: the trust names every Serverless database user of
        # this account and region, the narrowest condition without a dependency cycle.
        database_users = stack.format_arn(
            service="redshift",
            resource="dbuser",
            resource_name=f"serverless-{stack.account}-*/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role = ManagedPolicyRole(
            self,
            "SpectrumRole",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("redshift.amazonaws.com").with_conditions(
                {"StringLike": {"sts:ExternalId": database_users}}
            ),
            description=f"Redshift Spectrum: reads {', '.join(zones)} and the "
            f"{catalog_database_name} catalog",
        )
        lake.admit_outside_role(role)
        tables = stack.format_arn(
            service="glue", resource="table", resource_name=f"{catalog_database_name}/*"
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheCatalogDatabase",
                actions=list(CATALOG_READ_ACTIONS),
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(
                        service="glue", resource="database", resource_name=catalog_database_name
                    ),
                    tables,
                ],
            )
        )
        objects = []
        for zone in zones:
            bucket = lake.bucket(zone)
            objects.append(bucket.arn_for_objects("*"))
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=f"ReadThe{zone.capitalize()}Zone",
                    actions=list(OBJECT_READ_ACTIONS),
                    resources=[bucket.arn_for_objects("*")],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=f"ListThe{zone.capitalize()}Zone",
                    actions=list(BUCKET_READ_ACTIONS),
                    resources=[bucket.bucket_arn],
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptTheLake",
                actions=["kms:Decrypt"],
                resources=[lake.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )
        acknowledge_wildcard_resources(
            role.grants_policy,  # type: ignore[arg-type]
            [tables, *objects],
            "Spectrum reads whatever tables the catalog database holds and the objects under "
            "their locations, which the crawlers and jobs name at run time; the wildcards are "
            "one database's tables and the objects of the zones it may read, nothing else.",
        )
        return role


def _validate(
    path: str,
    *,
    lake: SecureDataLake,
    subnet_count: int,
    catalog_database_name: str,
    namespace_name: str,
    workgroup_name: str,
    database_name: str,
    admin_username: str,
    external_schema_name: str,
    spectrum_zones: Sequence[str],
    base_capacity: int,
    usage_limits: Sequence[RpuHoursLimit],
    max_query_seconds: int,
    port: int,
    log_retention_days: int,
) -> None:
    errors = PropErrors(f"Warehouse {path}")
    errors.require(
        subnet_count >= 3,
        "network",
        f"{subnet_count} private subnets",
        "a PrivateNetwork with private subnets in at least 3 availability zones "
        "(max_azs=3): Redshift Serverless requires three",
    )
    for prop, value in (("namespace_name", namespace_name), ("workgroup_name", workgroup_name)):
        errors.require(
            isinstance(value, str) and bool(_NAME.match(value)),
            prop,
            value,
            "3-64 characters: lowercase letters, digits and hyphens",
        )
    identifiers = (
        ("database_name", database_name),
        ("external_schema_name", external_schema_name),
        ("catalog_database_name", catalog_database_name),
    )
    for prop, value in identifiers:
        if isinstance(value, str) and cdk.Token.is_unresolved(value):
            continue  # a reference (e.g. to the analytics layer's database): checked on deploy
        errors.require(
            isinstance(value, str) and bool(_IDENTIFIER.match(value)),
            prop,
            value,
            "a lowercase identifier: letters, digits and '_', starting with a letter or '_'",
        )
    errors.require(
        isinstance(admin_username, str)
        and bool(_ADMIN.match(admin_username))
        and admin_username not in _DEFAULT_ADMINS,
        "admin_username",
        admin_username,
        "a lowercase name (letters, digits, '_', starting with a letter) other than "
        f"{', '.join(sorted(_DEFAULT_ADMINS))}",
    )
    zones = list(spectrum_zones)
    errors.require(
        bool(zones) and len(set(zones)) == len(zones) and all(z in lake.zones for z in zones),
        "spectrum_zones",
        tuple(zones),
        f"one or more distinct zones of the lake ({', '.join(lake.zones)})",
    )
    errors.require(
        is_valid_base_capacity(base_capacity), "base_capacity", base_capacity, BASE_CAPACITY_ALLOWED
    )
    limits = list(usage_limits)
    if errors.require(
        len(limits) >= 1,
        "usage_limits",
        tuple(limits),
        "at least one RpuHoursLimit: the ceiling a runaway query stops at",
    ):
        for index, limit in enumerate(limits):
            if errors.require(
                isinstance(limit, RpuHoursLimit),
                f"usage_limits[{index}]",
                limit,
                "an RpuHoursLimit",
            ):
                limit.validate(errors, f"usage_limits[{index}]")
        periods = [getattr(limit, "period", None) for limit in limits]
        errors.require(
            len(set(periods)) == len(periods),
            "usage_limits",
            tuple(periods),
            "at most one limit per period (daily, weekly, monthly)",
        )
    low, high = MAX_QUERY_SECONDS
    errors.require(
        isinstance(max_query_seconds, int)
        and not isinstance(max_query_seconds, bool)
        and low <= max_query_seconds <= high,
        "max_query_seconds",
        max_query_seconds,
        f"{low} to {high} seconds",
    )
    errors.require(
        isinstance(port, int) and any(a <= port <= b for a, b in PORT_RANGES),
        "port",
        port,
        "5431-5455 or 8191-8215",
    )
    errors.require(
        log_retention_days in LOG_RETENTION_DAYS,
        "log_retention_days",
        log_retention_days,
        LOG_RETENTION_ALLOWED,
    )
    errors.raise_if_any()
