"""StreamingIngestion: Kinesis Data Streams -> Firehose (Lambda transform) -> the data lake.

The course notes' real-time layer. Producers write events to a Kinesis data stream; a
Firehose delivery stream reads it, runs every record through a Lambda transform that
validates and normalizes it (:mod:`ml_blueprints.runtime.firehose_transform`), buffers, and
delivers into a lake zone under time-partitioned prefixes, optionally converted to Parquet
or ORC; records that fail anywhere are kept under an error prefix that names the failure.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_blueprints.compliance import (
    acknowledge,
    acknowledge_rule,
    acknowledge_wildcard_resources,
)
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
)
from ml_blueprints.constructs.shared.glue_types import GLUE_TYPES_ALLOWED, glue_type_problem
from ml_blueprints.constructs.shared.grants import grant_on_managed_policy
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.constructs.streaming.kinesis_sizing import StreamLoad, shards_for
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
TRANSFORM_MODULE = "firehose_transform"
#: The module of validation rules the transform imports, shipped beside it in the bundle.
CONTRACT_MODULE = "event_contract"
#: Namespace of the metrics the transform publishes through CloudWatch embedded metrics.
TRANSFORM_METRICS_NAMESPACE = "MlBlueprints/FirehoseTransform"
DEFAULT_REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "event_type", "event_time")
#: What :meth:`StreamingIngestion.grant_write` allows on the stream.
PRODUCER_ACTIONS: tuple[str, ...] = (
    "kinesis:PutRecord",
    "kinesis:PutRecords",
    "kinesis:ListShards",
    "kinesis:DescribeStreamSummary",
)

# AWS limits the props are validated against.
RETENTION_HOURS = (24, 8760)
BUFFER_INTERVAL_SECONDS = (0, 900)
BUFFER_SIZE_MIB = (1, 128)
MIN_CONVERSION_BUFFER_MIB = 64
TRANSFORM_TIMEOUT_SECONDS = (1, 300)
TRANSFORM_MEMORY_MIB = (128, 10240)
PROVISIONED_MAX_SHARDS = 10_000

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_\-/]*[a-z0-9]$|^[a-z0-9]$")
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_PARTITION_KEYS = ("year", "month", "day", "hour")


class RecordFormat(enum.Enum):
    """How records are stored: JSON Lines (compressed) or converted to a columnar format."""

    JSON = "json"
    PARQUET = "parquet"
    ORC = "orc"


class Compression(enum.Enum):
    """Compression of JSON output (columnar formats are compressed inside the file)."""

    GZIP = "GZIP"
    SNAPPY = "Snappy"
    HADOOP_SNAPPY = "HADOOP_SNAPPY"
    ZIP = "ZIP"
    UNCOMPRESSED = "UNCOMPRESSED"


@dataclass(frozen=True)
class Column(TypedProps):
    """A column of the events' Glue table: a lowercase name and a Hive/Glue type such as
    ``string``, ``bigint``, ``timestamp``, ``decimal(10,2)`` or ``struct<a:int>``."""

    name: str
    type: str
    comment: str | None = None


#: Columns matching what the transform guarantees (its required fields, normalized).
DEFAULT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "string", "producer's unique id of the event"),
    Column("event_type", "string", "lower-cased event type"),
    Column("event_time", "timestamp", "when the event happened (UTC)"),
    Column("ingested_at", "timestamp", "when Kinesis received it (UTC)"),
)


class StreamingIngestion(Construct):
    """A Kinesis data stream delivered by Firehose into a :class:`SecureDataLake` zone.

    Defaults:

    - Stream: on-demand capacity (``shard_count`` or ``expected_load`` switch to provisioned;
      :func:`~ml_blueprints.constructs.shards_for` sizes from load), 24-hour
      retention (24 to 8,760 hours), encrypted with ``encryption_key`` (the lake's key).
    - Delivery into ``zone`` ``"raw"`` under
      ``<prefix>/year=YYYY/month=MM/day=DD/hour=HH/`` (``prefix`` ``"events"``, arrival
      time); failures under ``errors/<prefix>/<error-type>/year=.../``.
    - Transform: Python Lambda validating ``required_fields`` (event_id, event_type,
      event_time), 256 MiB, 60 s timeout, reserved concurrency 5 (``None`` for none), in
      ``vpc`` when given (no network access needed or granted).
    - Format: JSON Lines, GZIP-compressed, buffered 300 s or 64 MiB. ``record_format``
      PARQUET or ORC converts with the Glue table built from ``columns``
      (:data:`DEFAULT_COLUMNS`); conversion needs a buffer of at least 64 MiB.
    - A Glue table over the delivered data with partition projection (no crawler needed
      for Athena) in a Glue database this construct creates (``create_glue_database``
      True), named ``glue_database_name`` (default: generated from the construct's path), so
      the construct deploys on its own into an account with no catalog yet. Pass
      ``create_glue_database=False`` with ``glue_database_name`` to put the table in a
      database that exists already (e.g. a :class:`DataCatalog`'s, in this stack or one
      deployed before it). The database is catalog metadata only and is deleted with the
      stack; the delivered data stays in the lake.
    - Logs: the transform and Firehose log to log groups encrypted with the key, kept
      ``log_retention_days`` (365).
    - Alarms (to ``alerts``, a new :class:`AlertTopic` when not given): iterator age above
      ``iterator_age_alarm_seconds`` (600), any write throttling, data older than
      ``freshness_alarm_seconds`` (buffer interval + 600) not yet delivered, failed
      deliveries, transform errors and records the transform rejected.

    Attributes: ``stream``, ``delivery_stream``, ``transform``, ``delivery_role``,
    ``table``, ``database`` (``None`` when not created here), ``database_name``,
    ``data_prefix``, ``error_prefix``, ``alarms``, ``alerts``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        zone: str = "raw",
        prefix: str = "events",
        shard_count: int | None = None,
        expected_load: StreamLoad | None = None,
        retention_hours: int = 24,
        encryption_key: kms.IKey | None = None,
        record_format: RecordFormat = RecordFormat.JSON,
        compression: Compression = Compression.GZIP,
        columns: Sequence[Column] = DEFAULT_COLUMNS,
        glue_database_name: str | None = None,
        create_glue_database: bool | None = None,
        table_name: str | None = None,
        buffer_interval_seconds: int = 300,
        buffer_size_mib: int = 64,
        required_fields: Sequence[str] = DEFAULT_REQUIRED_FIELDS,
        transform_memory_mib: int = 256,
        transform_timeout_seconds: int = 60,
        transform_reserved_concurrency: int | None = 5,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        delivery_role_name: str | None = None,
        alerts: AlertTopic | None = None,
        iterator_age_alarm_seconds: int = 600,
        freshness_alarm_seconds: int | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        freshness = (
            freshness_alarm_seconds
            if freshness_alarm_seconds is not None
            else buffer_interval_seconds + 600
        )
        _validate(
            lake=lake,
            zone=zone,
            prefix=prefix,
            shard_count=shard_count,
            expected_load=expected_load,
            retention_hours=retention_hours,
            record_format=record_format,
            compression=compression,
            columns=columns,
            glue_database_name=glue_database_name,
            create_glue_database=create_glue_database,
            table_name=table_name,
            buffer_interval_seconds=buffer_interval_seconds,
            buffer_size_mib=buffer_size_mib,
            required_fields=required_fields,
            transform_memory_mib=transform_memory_mib,
            transform_timeout_seconds=transform_timeout_seconds,
            transform_reserved_concurrency=transform_reserved_concurrency,
            iterator_age_alarm_seconds=iterator_age_alarm_seconds,
            freshness_alarm_seconds=freshness,
            log_retention_days=log_retention_days,
        )
        role_name = lake.outside_role_name(
            self, "delivery", delivery_role_name, owner="StreamingIngestion"
        )
        self.lake = lake
        self.zone = zone
        self.prefix = prefix
        self.key: kms.IKey = encryption_key or lake.key
        bucket = lake.bucket(zone)
        self.data_prefix = (
            f"{prefix}/year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/"
            "day=!{timestamp:dd}/hour=!{timestamp:HH}/"
        )
        self.error_prefix = (
            f"errors/{prefix}/!{{firehose:error-output-type}}/year=!{{timestamp:yyyy}}/"
            "month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
        )

        # --- the stream --------------------------------------------------------------------
        shards = shard_count or (shards_for(expected_load) if expected_load else None)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.PROVISIONED if shards else kinesis.StreamMode.ON_DEMAND,
            shard_count=shards,
            retention_period=cdk.Duration.hours(retention_hours),
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=self.key,
            removal_policy=removal_policy,
        )

        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "A customer-managed key on purpose, not aws/kinesis: its key policy is ours to "
            "control and every use is audited in CloudTrail, as for the lake the data lands in.",
        )

        # --- logs --------------------------------------------------------------------------
        self.log_group = logs.LogGroup(
            self,
            "DeliveryLogGroup",
            encryption_key=self.key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        delivery_log_stream = self.log_group.add_stream("S3Delivery", log_stream_name="S3Delivery")
        transform_log_group = logs.LogGroup(
            self,
            "TransformLogGroup",
            encryption_key=self.key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )

        # --- the transform -----------------------------------------------------------------
        self.transform = self._transform_function(
            transform_log_group,
            required_fields,
            transform_memory_mib,
            transform_timeout_seconds,
            transform_reserved_concurrency,
            vpc,
            vpc_subnets,
        )

        # --- the Glue table (schema for conversion, and Athena over the delivered data) ----
        stack = cdk.Stack.of(self)
        self.database_name = glue_database_name or f"mlbp_{cdk.Names.unique_id(self).lower()}"
        self.table_name = table_name or re.sub(r"[^a-z0-9_]", "_", prefix)
        self.database: glue.CfnDatabase | None = None
        if create_glue_database if create_glue_database is not None else True:
            self.database = glue.CfnDatabase(
                self,
                "Database",
                catalog_id=stack.account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=self.database_name,
                    description=f"Streaming ingestion {self.node.path}",
                ),
            )
        self.table = self._table(bucket.bucket_name, record_format, compression, columns)
        if self.database is not None:
            self.table.add_resource_dependency(self.database)

        # --- delivery ----------------------------------------------------------------------
        self.delivery_role = self._delivery_role(bucket.bucket_arn, delivery_log_stream, role_name)
        lake.admit_outside_role(self.delivery_role)
        self.delivery_stream = self._delivery_stream(
            bucket.bucket_arn,
            record_format,
            compression,
            buffer_interval_seconds,
            buffer_size_mib,
            delivery_log_stream,
        )
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "Firehose only encrypts direct-PUT delivery streams at rest; this one reads from "
            "a Kinesis stream, which is encrypted with the customer-managed key, and writes "
            "SSE-KMS objects with the same key.",
        )

        # --- alarms ------------------------------------------------------------------------
        self.alerts = alerts or AlertTopic(self, "Alerts", removal_policy=removal_policy)
        self.alarms = self._alarms(iterator_age_alarm_seconds, freshness)
        self.alerts.notify_on(*self.alarms.values())

    # ------------------------------------------------------------------------------ grants

    @typed_props
    def grant_write(self, producer: iam.IGrantable) -> iam.Grant:
        """Let ``producer`` put records into the stream (:data:`PRODUCER_ACTIONS`) and
        generate data keys with the stream's key through Kinesis only, for this stream only.
        The statements go into a customer-managed policy attached to ``producer`` (see
        :mod:`~ml_blueprints.constructs.shared.grants`); nothing needs acknowledging."""
        region = cdk.Stack.of(self).region
        return grant_on_managed_policy(
            producer,
            [
                iam.PolicyStatement(
                    actions=list(PRODUCER_ACTIONS), resources=[self.stream.stream_arn]
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey"],
                    resources=[self.key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"kinesis.{region}.amazonaws.com",
                            "kms:EncryptionContext:aws:kinesis:arn": self.stream.stream_arn,
                        }
                    },
                ),
            ],
        )

    # ----------------------------------------------------------------------------- builders

    def _transform_function(
        self,
        log_group: logs.LogGroup,
        required_fields: Sequence[str],
        memory: int,
        timeout: int,
        reserved_concurrency: int | None,
        vpc: ec2.IVpc | None,
        vpc_subnets: ec2.SubnetSelection | None,
    ) -> lambda_.Function:
        role = ManagedPolicyRole(
            self,
            "TransformRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runs the Firehose record transform: writes its own logs only",
        )
        security_group = None
        if vpc is not None:
            security_group = ec2.SecurityGroup(
                self,
                "TransformSecurityGroup",
                vpc=vpc,
                description="Firehose transform: makes no network calls, so no egress",
                allow_all_outbound=False,
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="AttachToTheVpc",
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )
        function = lambda_.Function(
            self,
            "Transform",
            description="Validates and normalizes Firehose records (ml-blueprints)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler=f"{TRANSFORM_MODULE}.handler",
            code=lambda_.Code.from_asset(
                str(RUNTIME_DIR),
                exclude=["*", f"!{TRANSFORM_MODULE}.py", f"!{CONTRACT_MODULE}.py"],
            ),
            memory_size=memory,
            timeout=cdk.Duration.seconds(timeout),
            reserved_concurrent_executions=reserved_concurrency,
            role=role,
            log_group=log_group,
            environment={"REQUIRED_FIELDS": ",".join(required_fields)},
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=[security_group] if security_group else None,
        )
        log_group.grant_write(role)
        acknowledge_rule(
            function,
            "LambdaDLQ",
            "Firehose invokes the transform synchronously; a Lambda dead-letter queue only "
            "catches asynchronous invocations. Records it cannot process go to the delivery "
            "stream's error prefix instead.",
        )
        if reserved_concurrency is None:
            acknowledge_rule(
                function,
                "LambdaConcurrency",
                "The caller turned reserved concurrency off (transform_reserved_concurrency="
                "None), e.g. for an account whose concurrency quota cannot spare a reservation.",
            )
        if vpc is None:
            acknowledge_rule(
                function,
                "LambdaInsideVPC",
                "No VPC was given: the transform only receives records from Firehose and "
                "returns them, and makes no network calls of its own.",
            )
        else:
            acknowledge(
                role.grants_policy,  # type: ignore[arg-type]
                "AwsSolutions-IAM5[Resource::*]",
                "The EC2 network-interface actions Lambda needs to attach the function to the "
                "VPC; DescribeNetworkInterfaces has no resource-level permissions and the "
                "interfaces do not exist before Lambda creates them.",
            )
        return function

    def _table(
        self,
        bucket_name: str,
        record_format: RecordFormat,
        compression: Compression,
        columns: Sequence[Column],
    ) -> glue.CfnTable:
        location = f"s3://{bucket_name}/{self.prefix}/"
        if record_format is RecordFormat.PARQUET:
            storage = (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                {},
            )
        elif record_format is RecordFormat.ORC:
            storage = (
                "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
                "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
                "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
                {},
            )
        else:
            storage = (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.openx.data.jsonserde.JsonSerDe",
                {"ignore.malformed.json": "true"},
            )
        input_format, output_format, serde, serde_params = storage
        projection = {
            "projection.enabled": "true",
            "projection.year.type": "integer",
            "projection.year.range": "2020,2100",
            "projection.month.type": "integer",
            "projection.month.range": "1,12",
            "projection.month.digits": "2",
            "projection.day.type": "integer",
            "projection.day.range": "1,31",
            "projection.day.digits": "2",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
            "storage.location.template": location
            + "year=${year}/month=${month}/day=${day}/hour=${hour}/",
            "classification": record_format.value,
        }
        if record_format is RecordFormat.JSON and compression is not Compression.UNCOMPRESSED:
            projection["compressionType"] = compression.value.lower()
        stack = cdk.Stack.of(self)
        return glue.CfnTable(
            self,
            "Table",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description=f"Events delivered by {self.node.path} (partition projection)",
                table_type="EXTERNAL_TABLE",
                parameters=projection,
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=key, type="string") for key in _PARTITION_KEYS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format=input_format,
                    output_format=output_format,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=serde, parameters=serde_params or None
                    ),
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c.name, type=c.type, comment=c.comment)
                        for c in columns
                    ],
                ),
            ),
        )

    def _delivery_role(
        self, bucket_arn: str, log_stream: logs.LogStream, role_name: str | None
    ) -> ManagedPolicyRole:
        stack = cdk.Stack.of(self)
        role = ManagedPolicyRole(
            self,
            "DeliveryRole",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com").with_conditions(
                {"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description="Firehose: reads its stream, writes its prefixes of one lake zone",
        )
        self.stream.grant_read(role)
        objects = [f"{bucket_arn}/{self.prefix}/*", f"{bucket_arn}/errors/{self.prefix}/*"]
        for statement in (
            iam.PolicyStatement(
                sid="WriteDeliveryPrefixes",
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"],
                resources=objects,
            ),
            iam.PolicyStatement(
                sid="FindTheBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket_arn],
            ),
            iam.PolicyStatement(
                sid="EncryptDeliveredObjects",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
                    # The lake's buckets use S3 Bucket Keys: S3 then asks KMS with the
                    # bucket's ARN as encryption context, not the object's.
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, *objects]},
                },
            ),
            iam.PolicyStatement(
                sid="InvokeTheTransform",
                actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                resources=[self.transform.function_arn],
            ),
            iam.PolicyStatement(
                sid="LogDeliveryErrors",
                actions=["logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{self.log_group.log_group_name}:log-stream:"
                        f"{log_stream.log_stream_name}",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="ReadTheSchema",
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(
                        service="glue", resource="database", resource_name=self.database_name
                    ),
                    stack.format_arn(
                        service="glue",
                        resource="table",
                        resource_name=f"{self.database_name}/{self.table_name}",
                    ),
                ],
            ),
        ):
            role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            role.grants_policy,  # type: ignore[arg-type]
            objects,
            "Firehose writes new objects with generated names; the wildcard is confined to "
            "this stream's data prefix and its error prefix in one lake zone.",
        )
        return role

    def _delivery_stream(
        self,
        bucket_arn: str,
        record_format: RecordFormat,
        compression: Compression,
        interval: int,
        size: int,
        log_stream: logs.LogStream,
    ) -> firehose.CfnDeliveryStream:
        stack = cdk.Stack.of(self)
        converting = record_format is not RecordFormat.JSON
        conversion = None
        if converting:
            serializer = (
                firehose.CfnDeliveryStream.SerializerProperty(
                    parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(
                        compression="SNAPPY"
                    )
                )
                if record_format is RecordFormat.PARQUET
                else firehose.CfnDeliveryStream.SerializerProperty(
                    orc_ser_de=firehose.CfnDeliveryStream.OrcSerDeProperty(compression="SNAPPY")
                )
            )
            conversion = firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                enabled=True,
                input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                    deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                        open_x_json_ser_de=firehose.CfnDeliveryStream.OpenXJsonSerDeProperty()
                    )
                ),
                output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                    serializer=serializer
                ),
                schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                    catalog_id=stack.account,
                    database_name=self.database_name,
                    table_name=self.table_name,
                    region=stack.region,
                    role_arn=self.delivery_role.role_arn,
                    version_id="LATEST",
                ),
            )
        processor = firehose.CfnDeliveryStream.ProcessorProperty(
            type="Lambda",
            parameters=[
                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                    parameter_name="LambdaArn", parameter_value=self.transform.function_arn
                ),
                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                    parameter_name="NumberOfRetries", parameter_value="3"
                ),
                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                    parameter_name="BufferSizeInMBs", parameter_value="1"
                ),
                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                    parameter_name="BufferIntervalInSeconds", parameter_value="60"
                ),
            ],
        )
        delivery = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=self.stream.stream_arn,
                role_arn=self.delivery_role.role_arn,
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket_arn,
                role_arn=self.delivery_role.role_arn,
                prefix=self.data_prefix,
                error_output_prefix=self.error_prefix,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=interval, size_in_m_bs=size
                ),
                compression_format="UNCOMPRESSED" if converting else compression.value,
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=self.key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True, processors=[processor]
                ),
                data_format_conversion_configuration=conversion,
                s3_backup_mode="Disabled",
            ),
        )
        # Firehose checks its role's permissions when it is created: the policy must be there.
        delivery.node.add_dependency(self.delivery_role.grants_policy)  # type: ignore[arg-type]
        return delivery

    def _alarms(
        self, iterator_age_seconds: int, freshness_seconds: int
    ) -> dict[str, cloudwatch.Alarm]:
        five_minutes = cdk.Duration.minutes(5)
        name = self.delivery_stream.ref

        def firehose_metric(metric: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=metric,
                dimensions_map={"DeliveryStreamName": name},
                statistic=statistic,
                period=five_minutes,
            )

        specs = {
            "IteratorAge": (
                self.stream.metric_get_records_iterator_age_milliseconds(
                    statistic="Maximum", period=cdk.Duration.minutes(1)
                ),
                iterator_age_seconds * 1000,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                "Records wait in the stream longer than expected: delivery is falling behind",
            ),
            "WriteThrottling": (
                self.stream.metric_write_provisioned_throughput_exceeded(
                    statistic="Sum", period=five_minutes
                ),
                0,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                "Producers are throttled: add shards or switch to on-demand capacity",
            ),
            "DeliveryFreshness": (
                firehose_metric("DeliveryToS3.DataFreshness", "Maximum"),
                freshness_seconds,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                "The oldest record not yet delivered to S3 is older than expected",
            ),
            "DeliveryFailures": (
                firehose_metric("DeliveryToS3.Success", "Average"),
                1,
                cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                "Some deliveries to S3 failed and are being retried (see the delivery log)",
            ),
            "TransformErrors": (
                self.transform.metric_errors(statistic="Sum", period=five_minutes),
                0,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                "The transform function failed; Firehose retries, then writes to the error prefix",
            ),
            "RejectedRecords": (
                cloudwatch.Metric(
                    namespace=TRANSFORM_METRICS_NAMESPACE,
                    metric_name="FailedRecords",
                    dimensions_map={"FunctionName": self.transform.function_name},
                    statistic="Sum",
                    period=five_minutes,
                ),
                0,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                "The transform rejected records: they are under the error prefix",
            ),
        }
        return {
            alarm_id: cloudwatch.Alarm(
                self,
                f"{alarm_id}Alarm",
                metric=metric,
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            for alarm_id, (metric, threshold, comparison, description) in specs.items()
        }


def _validate(
    *,
    lake: SecureDataLake,
    zone: str,
    prefix: str,
    shard_count: int | None,
    expected_load: StreamLoad | None,
    retention_hours: int,
    record_format: RecordFormat,
    compression: Compression,
    columns: Sequence[Column],
    glue_database_name: str | None,
    create_glue_database: bool | None,
    table_name: str | None,
    buffer_interval_seconds: int,
    buffer_size_mib: int,
    required_fields: Sequence[str],
    transform_memory_mib: int,
    transform_timeout_seconds: int,
    transform_reserved_concurrency: int | None,
    iterator_age_alarm_seconds: int,
    freshness_alarm_seconds: int,
    log_retention_days: int,
) -> None:
    errors = PropErrors("StreamingIngestion")

    def within(prop: str, value: object, bounds: tuple[int, int], unit: str) -> bool:
        low, high = bounds
        return errors.require(
            isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
            prop,
            value,
            f"{low} to {high} {unit}",
        )

    errors.require(
        zone in lake.zones, "zone", zone, f"one of the lake's zones ({', '.join(lake.zones)})"
    )
    errors.require(
        isinstance(prefix, str) and bool(_PREFIX.match(prefix)) and not prefix.startswith("errors"),
        "prefix",
        prefix,
        "lowercase letters, digits, '_', '-' and '/', not starting or ending with '/', and not "
        "under 'errors' (where failed records go)",
    )
    errors.require(
        not (shard_count is not None and expected_load is not None),
        "shard_count/expected_load",
        (shard_count, expected_load),
        "one of them at most: a shard count, or the load to size it from",
    )
    if shard_count is not None:
        within("shard_count", shard_count, (1, PROVISIONED_MAX_SHARDS), "shards")
    if expected_load is not None:
        try:
            shards_for(expected_load)
        except ValueError as error:
            errors.add("expected_load", expected_load, str(error).split(":\n", 1)[-1].strip())
    within("retention_hours", retention_hours, RETENTION_HOURS, "hours (1 to 365 days)")
    within("buffer_interval_seconds", buffer_interval_seconds, BUFFER_INTERVAL_SECONDS, "seconds")
    within("buffer_size_mib", buffer_size_mib, BUFFER_SIZE_MIB, "MiB")
    converting = record_format is not RecordFormat.JSON
    if converting:
        errors.require(
            not isinstance(buffer_size_mib, int) or buffer_size_mib >= MIN_CONVERSION_BUFFER_MIB,
            "buffer_size_mib",
            buffer_size_mib,
            f"at least {MIN_CONVERSION_BUFFER_MIB} MiB when converting to "
            f"{record_format.value} (AWS's minimum for format conversion)",
        )
        errors.require(
            compression is Compression.GZIP or compression is Compression.UNCOMPRESSED,
            "compression",
            compression,
            f"left at its default when converting to {record_format.value}: columnar files are "
            "compressed inside (SNAPPY)",
        )
    errors.require(len(columns) > 0, "columns", list(columns), "at least one column")
    seen: set[str] = set()
    for column in columns:
        if not errors.require(isinstance(column, Column), "columns", column, "Column(name, type)"):
            continue
        errors.require(
            bool(_COLUMN.match(column.name))
            and column.name not in seen
            and column.name not in _PARTITION_KEYS,
            "columns",
            column.name,
            "unique lowercase names (letters, digits, '_'), not a partition key "
            f"({', '.join(_PARTITION_KEYS)})",
        )
        seen.add(column.name)
        problem = glue_type_problem(column.type)
        errors.require(
            problem is None,
            f"columns[{column.name!r}].type",
            column.type,
            f"{GLUE_TYPES_ALLOWED} ({problem})",
        )
        if column.comment is not None:
            errors.require(
                len(column.comment) <= 255,
                f"columns[{column.name!r}].comment",
                column.comment[:40] + "...",
                "at most 255 characters (Glue's limit)",
            )
    errors.require(
        create_glue_database is not False or glue_database_name is not None,
        "create_glue_database",
        create_glue_database,
        "True (the default) unless glue_database_name names the existing database to use",
    )
    for prop, name in (("glue_database_name", glue_database_name), ("table_name", table_name)):
        if name is not None:
            errors.require(
                bool(re.fullmatch(r"[a-z0-9_]{1,255}", name)),
                prop,
                name,
                "lowercase letters, digits and '_' (what Athena accepts), 1-255 characters",
            )
    errors.require(
        len(required_fields) > 0
        and all(isinstance(f, str) and bool(_COLUMN.match(f)) for f in required_fields),
        "required_fields",
        list(required_fields),
        "one or more lowercase field names (letters, digits, '_')",
    )
    within("transform_memory_mib", transform_memory_mib, TRANSFORM_MEMORY_MIB, "MiB")
    within(
        "transform_timeout_seconds",
        transform_timeout_seconds,
        TRANSFORM_TIMEOUT_SECONDS,
        "seconds (Firehose waits at most 5 minutes for a transform)",
    )
    if transform_reserved_concurrency is not None:
        within(
            "transform_reserved_concurrency",
            transform_reserved_concurrency,
            (1, 1000),
            "concurrent executions, or None for no reservation",
        )
    within("iterator_age_alarm_seconds", iterator_age_alarm_seconds, (60, 7 * 24 * 3600), "seconds")
    if errors.require(
        isinstance(freshness_alarm_seconds, int) and freshness_alarm_seconds > 0,
        "freshness_alarm_seconds",
        freshness_alarm_seconds,
        "a positive number of seconds",
    ) and isinstance(buffer_interval_seconds, int):
        errors.require(
            freshness_alarm_seconds > buffer_interval_seconds,
            "freshness_alarm_seconds",
            freshness_alarm_seconds,
            f"more than buffer_interval_seconds ({buffer_interval_seconds}): data waits that "
            "long in the buffer by design",
        )
    errors.require(
        log_retention_days in LOG_RETENTION_DAYS,
        "log_retention_days",
        log_retention_days,
        LOG_RETENTION_ALLOWED,
    )
    errors.raise_if_any()
