"""RealTimeStack: the course notes' real-time layer over the data lake layer's lake."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import StreamingIngestion
from ml_blueprints.stacks.data_lake import DataLakeStack


class RealTimeStack(cdk.Stack):
    """StreamingIngestion into the raw zone of the lake in ``data_lake`` (another stack).

    The lake stays in its own stack, so this layer can be deployed, changed and destroyed
    without touching stored data; CDK passes the bucket, key and VPC across as stack
    exports. Firehose's role is named with the platform's service-role prefix, which the
    lake exempts from its VPC-endpoint restriction (Firehose writes from outside the VPC).

    Outputs: the stream name, the delivery stream name and the raw prefix.
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, data_lake: DataLakeStack, **kwargs
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("real-time"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault(
            "description", "ml-blueprints real-time layer: Kinesis -> Firehose -> data lake"
        )
        super().__init__(scope, id, **kwargs)
        self.ingestion = StreamingIngestion(
            self,
            "Ingestion",
            lake=data_lake.lake,
            zone="raw",
            prefix="events",
            shard_count=settings.stream_shard_count,  # 1 in sandbox mode: see Settings
            glue_database_name=f"mlbp_{settings.env_name.replace('-', '_')}_streaming",
            delivery_role_name=f"{settings.service_role_prefix}firehose-events",
            vpc=data_lake.network.vpc,
            vpc_subnets=data_lake.network.private_subnets,
            alerts=data_lake.alert_topic(self, "Alerts"),
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal_policy,
        )
        bucket = data_lake.lake.bucket("raw")
        cdk.CfnOutput(
            self,
            "StreamName",
            value=self.ingestion.stream.stream_name,
            description="Kinesis data stream producers write to",
        )
        cdk.CfnOutput(
            self,
            "DeliveryStreamName",
            value=self.ingestion.delivery_stream.ref,
            description="Firehose delivery stream into the raw zone",
        )
        cdk.CfnOutput(
            self,
            "RawPrefix",
            value=f"s3://{bucket.bucket_name}/{self.ingestion.prefix}/",
            description="Where delivered events land (partitioned year=/month=/day=/hour=)",
        )
        cdk.CfnOutput(
            self,
            "ErrorPrefix",
            value=f"s3://{bucket.bucket_name}/errors/{self.ingestion.prefix}/",
            description="Where records that failed (transform, conversion, delivery) land",
        )
        cdk.CfnOutput(
            self,
            "EventsTable",
            value=f"{self.ingestion.database_name}.{self.ingestion.table_name}",
            description="Glue table over the delivered events (partition projection)",
        )
