"""DatabaseReplication: a MySQL database replicated into the lake by DMS Serverless.

The course notes' AWS DMS: continuous replication with no transformation. A DMS Serverless
replication (no instance to size or patch; capacity scales between two limits, billed per
DCU-hour while it runs) does a full load of the selected tables, then captures every change
(CDC), into the raw zone as Parquet: one folder per table, each row stamped with the change's
commit time and its operation (``I``/``U``/``D``), the changes in date folders
(``YYYY/MM/DD``, UTC). It runs in the private subnets, connects to MySQL over TLS with
credentials it reads from Secrets Manager, and encrypts with the lake key everywhere: its
storage, the endpoints' settings, the objects it writes and its log group.

Unlike the other ingestion paths it keeps nothing under ``errors/<prefix>/``: DMS has no S3
location for rows it fails on. Their errors go to the replication's CloudWatch log group
only, and the rows stay in the source (see :class:`DatabaseReplication`, "Failures").

Creating the stack does not start the replication (nothing is billed until it runs):
start it with ``aws dms start-replication --replication-config-arn <arn>
--start-replication-type start-replication``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dms as dms
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ml_blueprints.compliance import acknowledge, acknowledge_wildcard_resources
from ml_blueprints.constructs.ingestion.common import (
    grant_secret_read,
    key_use_through_s3,
    require_prefix,
)
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

#: DMS Serverless capacity units (DCU) a replication may use; 1 DCU is 2 GB of memory.
CAPACITY_UNITS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 384)
SSL_MODES = ("require", "verify-ca", "verify-full")
#: The account-wide roles DMS looks up by name: one to manage the replication's network
#: interfaces, one to write its logs.
SERVICE_ROLES = {
    "dms-vpc-role": "service-role/AmazonDMSVPCManagementRole",
    "dms-cloudwatch-logs-role": "service-role/AmazonDMSCloudWatchLogsRole",
}
#: Namespace of the error count the replication's log yields (a metric filter).
ERRORS_NAMESPACE = "MlBlueprints/DatabaseReplication"
_HOST = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MYSQL_NAME = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_TABLE_PATTERN = re.compile(r"^[A-Za-z0-9_$%]{1,64}$")
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_DMS_CERT = re.compile(r"^arn:aws[a-z-]*:dms:[a-z0-9-]+:\d{12}:cert:[A-Za-z0-9-]+$")
_IDENTIFIER = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$")


@dataclass(frozen=True)
class MySqlSource(TypedProps):
    """The MySQL database to replicate (MySQL 5.7 or 8 with binary logging in ROW format,
    ``binlog_row_image=FULL``, and a user with ``REPLICATION CLIENT``, ``REPLICATION
    SLAVE`` and ``SELECT``: what DMS needs for change capture).

    - ``host`` and ``port`` (3306): where it listens; the replication's security group
      allows that port to ``peer_cidr`` only (default: ``host``/32 for an IPv4 address,
      the VPC's CIDR for a name).
    - ``database``: the schema to replicate; ``tables``: table name patterns in it
      (``%`` is every table, the default).
    - ``secret``: Secrets Manager secret in DMS's format, a JSON object with ``username``,
      ``password``, ``host`` and ``port`` (the same host and port). DMS reads it; the
      password never appears in the template.
    - ``ssl_mode``: ``require`` (TLS, the default); ``verify-ca`` or ``verify-full`` also
      check the server's certificate against ``certificate_arn`` (a CA imported into DMS).
    """

    host: str
    database: str
    secret: secretsmanager.ISecret
    port: int = 3306
    tables: tuple[str, ...] = ("%",)
    ssl_mode: str = "require"
    certificate_arn: str | None = None
    peer_cidr: str | None = None

    def validate(self, errors: PropErrors, prop: str = "source") -> None:
        errors.require(
            isinstance(self.host, str) and (_is_ipv4(self.host) or bool(_HOST.match(self.host))),
            f"{prop}.host",
            self.host,
            "a DNS name or an IPv4 address",
        )
        errors.require(
            isinstance(self.port, int)
            and not isinstance(self.port, bool)
            and 1 <= self.port <= 65535,
            f"{prop}.port",
            self.port,
            "a TCP port, 1 to 65535",
        )
        errors.require(
            isinstance(self.database, str) and bool(_MYSQL_NAME.match(self.database)),
            f"{prop}.database",
            self.database,
            "a MySQL schema name: 1-64 letters, digits, '_' or '$'",
        )
        errors.require(
            isinstance(self.tables, tuple | list)
            and len(self.tables) > 0
            and all(isinstance(t, str) and _TABLE_PATTERN.match(t) for t in self.tables),
            f"{prop}.tables",
            self.tables,
            "one or more table names or patterns ('%' matches any characters)",
        )
        errors.require(
            self.ssl_mode in SSL_MODES,
            f"{prop}.ssl_mode",
            self.ssl_mode,
            f"one of {', '.join(SSL_MODES)}: the connection is always encrypted",
        )
        verifies = self.ssl_mode in ("verify-ca", "verify-full")
        if verifies or self.certificate_arn is not None:
            errors.require(
                verifies
                and isinstance(self.certificate_arn, str)
                and (
                    cdk.Token.is_unresolved(self.certificate_arn)
                    or bool(_DMS_CERT.match(self.certificate_arn))
                ),
                f"{prop}.certificate_arn",
                self.certificate_arn,
                "the ARN of a CA certificate imported into DMS (arn:aws:dms:<region>:<account>:"
                "cert:<id>), given with ssl_mode verify-ca or verify-full only",
            )
        if self.peer_cidr is not None:
            errors.require(
                _is_ipv4_network(self.peer_cidr),
                f"{prop}.peer_cidr",
                self.peer_cidr,
                "an IPv4 CIDR block such as 10.1.0.0/16 (where the database is)",
            )


class DatabaseReplication(Construct):
    """DMS Serverless full load and change capture from ``source`` into the lake.

    Defaults:

    - Into ``zone`` ``raw`` under ``prefix`` (``databases/<database>``):
      ``<prefix>/<database>/<table>/LOAD*.parquet`` for the full load and
      ``<prefix>/<database>/<table>/YYYY/MM/DD/<time>.parquet`` for changes (their commit
      date in UTC). Every row has the operation (``Op``: ``I``, ``U`` or ``D``, also on
      full-load rows) and ``timestamp_column`` (``dms_commit_ts``: the commit time of the
      change, the load time for full-load rows). Parquet 2.0 with millisecond timestamps,
      SSE-KMS with the lake key. Existing objects are never dropped (target preparation
      "do nothing").
    - Capacity from ``min_capacity_units`` (1) to ``max_capacity_units`` (4) DCU (of
      :data:`CAPACITY_UNITS`); ``multi_az`` False (True keeps a standby in a second AZ for
      continuity, at twice the price).
    - In ``network``'s private subnets (a replication subnet group of them) with a
      security group allowing out only the source's port to its CIDR and HTTPS (Secrets
      Manager through its interface endpoint, S3 through the gateway endpoint): the
      network needs a ``secretsmanager`` interface endpoint (the Ingestion stack adds it).
    - Encrypted with the lake key (``lake.key``): the replication's storage, both
      endpoints' settings, the target objects, its log group (kept ``log_retention_days``,
      365; DMS writes to ``dms-serverless-replication-<replication_id>``).
    - Roles: one DMS assumes to read the source's secret (and decrypt it) only; one to
      write the prefix (DMS writes from inside the VPC, through the S3 endpoint). With
      ``create_service_roles`` True (the default), the account-wide ``dms-vpc-role`` and
      ``dms-cloudwatch-logs-role`` DMS requires are created too; pass False when the
      account has them already (another stack, or DMS used before).
    - Alarms (to ``alerts``, a new :class:`AlertTopic` when not given): source or target
      latency above ``latency_alarm_seconds`` (600) and any error the replication logs.
    - Failures, the one ingestion path with no ``errors/<prefix>/`` location: DMS keeps
      no failed rows. An S3 target has no control tables (``awsdms_apply_exceptions``, where
      DMS keeps failed changes, exists on database targets only), so the only record of a
      failure and its reason is the replication's CloudWatch log group
      (``dms-serverless-replication-<replication_id>``, encrypted with the lake key, kept
      ``log_retention_days``, 365), whose error lines (``]E:``) raise the error alarm. With
      :data:`REPLICATION_SETTINGS`: a row DMS cannot convert or apply is logged and not
      written to the lake, and the replication goes on (``LOG_ERROR``); after 50 such
      errors in one table that table is suspended (``SUSPEND_TABLE``: its changes stop
      reaching the lake), as it is at once on a table-level error (its data or metadata);
      after 50 table-level errors the replication stops (``STOP_TASK``). A value DMS
      truncates (a LOB longer than its limited-LOB-mode size, 32 KB by default; S3 targets
      have no full LOB mode) lands truncated, with a warning in the log that the error
      alarm does not count. The rows themselves remain only in the source database:
      reload a suspended table (``aws dms reload-replication-tables``) once the cause is
      fixed.
    - ``replication_id``: ``mlbp-<unique id>`` (lowercase letters, digits, hyphens).

    Attributes: ``replication``, ``source_endpoint``, ``target_endpoint``,
    ``subnet_group``, ``security_group``, ``secret_access_role``, ``target_role``,
    ``log_group``, ``replication_id``, ``data_prefix``, ``alarms``, ``alerts``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        source: MySqlSource,
        lake: SecureDataLake,
        network: PrivateNetwork,
        zone: str = "raw",
        prefix: str | None = None,
        min_capacity_units: int = 1,
        max_capacity_units: int = 4,
        multi_az: bool | None = None,
        timestamp_column: str = "dms_commit_ts",
        latency_alarm_seconds: int = 600,
        replication_id: str | None = None,
        create_service_roles: bool | None = None,
        alerts: AlertTopic | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        multi_az = multi_az if multi_az is not None else False
        create_service_roles = create_service_roles if create_service_roles is not None else True
        errors = PropErrors(f"DatabaseReplication {self.node.path}")
        if errors.require(isinstance(source, MySqlSource), "source", source, "a MySqlSource"):
            source.validate(errors)
        prefix = prefix if prefix is not None else "databases"
        errors.require(
            zone in lake.zones, "zone", zone, f"one of the lake's zones ({', '.join(lake.zones)})"
        )
        require_prefix(errors, "prefix", prefix)
        for prop, units in (
            ("min_capacity_units", min_capacity_units),
            ("max_capacity_units", max_capacity_units),
        ):
            errors.require(
                units in CAPACITY_UNITS and not isinstance(units, bool),
                prop,
                units,
                f"one of DMS Serverless's capacity units: {', '.join(map(str, CAPACITY_UNITS))}",
            )
        if min_capacity_units in CAPACITY_UNITS and max_capacity_units in CAPACITY_UNITS:
            errors.require(
                min_capacity_units <= max_capacity_units,
                "min_capacity_units",
                min_capacity_units,
                f"at most max_capacity_units ({max_capacity_units})",
            )
        errors.require(
            isinstance(timestamp_column, str) and bool(_COLUMN.match(timestamp_column)),
            "timestamp_column",
            timestamp_column,
            "a lowercase column name (letters, digits, '_')",
        )
        errors.require(
            isinstance(latency_alarm_seconds, int) and 60 <= latency_alarm_seconds <= 86400,
            "latency_alarm_seconds",
            latency_alarm_seconds,
            "60 to 86400 seconds",
        )
        if replication_id is not None:
            errors.require(
                bool(_IDENTIFIER.match(replication_id)),
                "replication_id",
                replication_id,
                "2-63 lowercase letters, digits and hyphens, starting with a letter, not "
                "ending with a hyphen, no '--'",
            )
        errors.require(
            log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        errors.raise_if_any()

        stack = cdk.Stack.of(self)
        bucket = lake.bucket(zone)
        self.data_prefix = prefix
        self.replication_id = replication_id or _identifier(self)
        self.alerts = alerts or AlertTopic(self, "Alerts", removal_policy=removal_policy)
        key = lake.key

        # --- network -------------------------------------------------------------------
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="DMS Serverless replication: the source database and HTTPS out only",
            allow_all_outbound=False,
        )
        peer = source.peer_cidr or (f"{source.host}/32" if _is_ipv4(source.host) else network.cidr)
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4(peer), ec2.Port.tcp(source.port), "MySQL, the replication's source"
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS to the VPC's endpoints (Secrets Manager, S3)",
        )
        self.service_roles: list[iam.Role] = []
        if create_service_roles:
            for role_name, policy in SERVICE_ROLES.items():
                role = iam.Role(
                    self,
                    "".join(part.capitalize() for part in role_name.split("-")),
                    role_name=role_name,
                    assumed_by=iam.ServicePrincipal("dms.amazonaws.com"),
                    managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(policy)],
                    description=f"The account-wide role DMS looks up by its name ({role_name})",
                )
                acknowledge(
                    role,
                    f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                    f"DMS requires a role named exactly {role_name} with this AWS managed "
                    "policy; it holds nothing but the EC2 network-interface or CloudWatch Logs "
                    "actions DMS itself performs.",
                )
                self.service_roles.append(role)
        self.subnet_group = dms.CfnReplicationSubnetGroup(
            self,
            "SubnetGroup",
            replication_subnet_group_description=f"Private subnets of {self.node.path}",
            subnet_ids=network.vpc.select_subnets(subnet_group_name="Private").subnet_ids,
        )
        for role in self.service_roles:
            self.subnet_group.node.add_dependency(role)

        # --- the source ----------------------------------------------------------------
        self.secret_access_role = ManagedPolicyRole(
            self,
            "SecretAccessRole",
            # Secrets Manager access needs the regional DMS principal.
            assumed_by=iam.ServicePrincipal(f"dms.{stack.region}.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"DMS reads the source credentials of {self.node.path}",
        )
        grant_secret_read(self.secret_access_role, source.secret)
        self.source_endpoint = dms.CfnEndpoint(
            self,
            "SourceEndpoint",
            endpoint_type="source",
            engine_name="mysql",
            database_name=source.database,
            ssl_mode=source.ssl_mode,
            certificate_arn=source.certificate_arn,
            kms_key_id=key.key_arn,
            my_sql_settings=dms.CfnEndpoint.MySqlSettingsProperty(
                secrets_manager_secret_id=source.secret.secret_arn,
                secrets_manager_access_role_arn=self.secret_access_role.role_arn,
                server_timezone="UTC",
            ),
        )
        self.source_endpoint.node.add_dependency(self.secret_access_role.grants_policy)  # type: ignore[arg-type]

        # --- the target ----------------------------------------------------------------
        objects = f"{bucket.bucket_arn}/{prefix}/*"
        self.target_role = ManagedPolicyRole(
            self,
            "TargetRole",
            assumed_by=iam.ServicePrincipal("dms.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"DMS writes {self.node.path}'s prefix of the {zone} zone",
        )
        for statement in (
            iam.PolicyStatement(
                sid="WriteThePrefix",
                # DMS checks the target by writing and deleting a test object; the bucket is
                # versioned, so nothing it deletes is lost.
                actions=["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"],
                resources=[objects],
            ),
            iam.PolicyStatement(
                sid="ListThePrefix",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[bucket.bucket_arn],
            ),
            key_use_through_s3(
                "EncryptWithTheLakeKey",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                key,
                bucket,
                [objects],
            ),
        ):
            self.target_role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.target_role.grants_policy,  # type: ignore[arg-type]
            [objects],
            "DMS names its full-load and change files at run time; the wildcard is this "
            "replication's prefix in one lake zone.",
        )
        self.target_endpoint = dms.CfnEndpoint(
            self,
            "TargetEndpoint",
            endpoint_type="target",
            engine_name="s3",
            kms_key_id=key.key_arn,
            s3_settings=dms.CfnEndpoint.S3SettingsProperty(
                bucket_name=bucket.bucket_name,
                bucket_folder=prefix,
                expected_bucket_owner=stack.account,
                service_access_role_arn=self.target_role.role_arn,
                data_format="parquet",
                parquet_version="parquet-2-0",
                parquet_timestamp_in_millisecond=True,
                encryption_mode="SSE_KMS",
                server_side_encryption_kms_key_id=key.key_arn,
                timestamp_column_name=timestamp_column,
                include_op_for_full_load=True,
                cdc_inserts_and_updates=False,
                cdc_inserts_only=False,
                date_partition_enabled=True,
                date_partition_sequence="YYYYMMDD",
                date_partition_delimiter="SLASH",
                date_partition_timezone="UTC",
                cdc_max_batch_interval=60,
                cdc_min_file_size=32000,
                canned_acl_for_objects="none",
            ),
        )
        self.target_endpoint.node.add_dependency(self.target_role.grants_policy)  # type: ignore[arg-type]

        # --- the replication ----------------------------------------------------------
        self.replication = dms.CfnReplicationConfig(
            self,
            "Replication",
            replication_config_identifier=self.replication_id,
            resource_identifier=self.replication_id,
            replication_type="full-load-and-cdc",
            source_endpoint_arn=self.source_endpoint.ref,
            target_endpoint_arn=self.target_endpoint.ref,
            compute_config=dms.CfnReplicationConfig.ComputeConfigProperty(
                min_capacity_units=min_capacity_units,
                max_capacity_units=max_capacity_units,
                multi_az=multi_az,
                kms_key_id=key.key_arn,
                replication_subnet_group_id=self.subnet_group.ref,
                vpc_security_group_ids=[self.security_group.security_group_id],
            ),
            table_mappings=table_mappings(source.database, source.tables),
            replication_settings=REPLICATION_SETTINGS,
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"dms-serverless-replication-{self.replication_id}",
            encryption_key=key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        # The log group exists, encrypted, before DMS would create one of its own.
        self.replication.node.add_dependency(self.log_group)
        self.alarms = self._alarms(latency_alarm_seconds)
        self.alerts.notify_on(*self.alarms.values())

    @property
    def replication_arn(self) -> str:
        return self.replication.attr_replication_config_arn

    def _alarms(self, latency_seconds: int) -> dict[str, cloudwatch.Alarm]:
        stack = cdk.Stack.of(self)
        dimension = {"ReplicationConfigId": f"{stack.account}:{self.replication_id}"}
        five_minutes = cdk.Duration.minutes(5)
        error_metric = f"Errors-{self.replication_id}"
        logs.MetricFilter(
            self,
            "ErrorsFilter",
            log_group=self.log_group,
            # DMS log lines carry their severity after the component: "[SOURCE_CAPTURE ]E:".
            filter_pattern=logs.FilterPattern.literal('"]E:"'),
            metric_namespace=ERRORS_NAMESPACE,
            metric_name=error_metric,
            metric_value="1",
            default_value=0,
        )
        specs = {
            "SourceLatency": (
                cloudwatch.Metric(
                    namespace="AWS/DMS",
                    metric_name="CDCLatencySource",
                    dimensions_map=dimension,
                    statistic="Maximum",
                    period=five_minutes,
                ),
                latency_seconds,
                "Changes are read from MySQL later than expected: the source falls behind",
            ),
            "TargetLatency": (
                cloudwatch.Metric(
                    namespace="AWS/DMS",
                    metric_name="CDCLatencyTarget",
                    dimensions_map=dimension,
                    statistic="Maximum",
                    period=five_minutes,
                ),
                latency_seconds,
                "Changes reach the lake later than expected: the replication falls behind",
            ),
            "Errors": (
                cloudwatch.Metric(
                    namespace=ERRORS_NAMESPACE,
                    metric_name=error_metric,
                    statistic="Sum",
                    period=five_minutes,
                ),
                0,
                "The replication logged errors (a failed table, a lost connection, a stopped "
                "replication): see its log group",
            ),
        }
        return {
            name: cloudwatch.Alarm(
                self,
                f"{name}Alarm",
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            for name, (metric, threshold, description) in specs.items()
        }


#: Task settings: DMS logs every component; existing target objects are kept by the full
#: load. Errors (see :class:`DatabaseReplication`, "Failures"): a row with a data error
#: (conversion, bad data) or an apply error is logged to the replication's log group and
#: not written to the lake (``LOG_ERROR``); the 50th data error in a table suspends it
#: (``DataErrorEscalationPolicy``), a table-level error suspends it at once
#: (``TableErrorPolicy``), and the 50th table-level error stops the replication
#: (``TableErrorEscalationPolicy``); transient errors are retried without limit, every 5
#: seconds backing off to 30 minutes. Nothing is written under ``errors/``: DMS has no S3
#: location for failed rows.
REPLICATION_SETTINGS: dict[str, object] = {
    "Logging": {"EnableLogging": True},
    "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"},
    "ErrorBehavior": {
        "DataErrorPolicy": "LOG_ERROR",
        "DataTruncationErrorPolicy": "LOG_ERROR",
        "DataErrorEscalationPolicy": "SUSPEND_TABLE",
        "DataErrorEscalationCount": 50,
        "TableErrorPolicy": "SUSPEND_TABLE",
        "TableErrorEscalationPolicy": "STOP_TASK",
        "TableErrorEscalationCount": 50,
        "RecoverableErrorCount": -1,
        "RecoverableErrorInterval": 5,
        "RecoverableErrorThrottling": True,
        "RecoverableErrorThrottlingMax": 1800,
        "ApplyErrorDeletePolicy": "LOG_ERROR",
        "ApplyErrorInsertPolicy": "LOG_ERROR",
        "ApplyErrorUpdatePolicy": "LOG_ERROR",
        "ApplyErrorEscalationPolicy": "LOG_ERROR",
    },
}


def table_mappings(database: str, tables: Sequence[str]) -> dict[str, object]:
    """DMS selection rules including ``tables`` (patterns) of ``database``."""
    return {
        "rules": [
            {
                "rule-type": "selection",
                "rule-id": str(index),
                "rule-name": f"include-{index}",
                "object-locator": {"schema-name": database, "table-name": table},
                "rule-action": "include",
            }
            for index, table in enumerate(tables, start=1)
        ]
    }


def _identifier(scope: Construct) -> str:
    unique = cdk.Names.unique_id(scope).lower()
    text = re.sub(r"[^a-z0-9]+", "-", f"mlbp-{unique}").strip("-")
    return re.sub(r"-+", "-", text)[:63].rstrip("-")


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except (ipaddress.AddressValueError, ValueError):
        return False
    return True


def _is_ipv4_network(text: object) -> bool:
    if not isinstance(text, str) or "/" not in text:
        return False
    try:
        ipaddress.IPv4Network(text, strict=True)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        return False
    return True
