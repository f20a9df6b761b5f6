"""DataLakeStack: the layer everything else stands on: a private network and the lake."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import AlertTopic, PrivateNetwork, SecureDataLake


class DataLakeStack(cdk.Stack):
    """PrivateNetwork + SecureDataLake, with the lake trusting the network's S3 endpoint, and
    the key every layer's alert topic is encrypted with (:meth:`alert_topic`).

    Outputs: one bucket name per zone, the access-logs bucket, the lake key ARN, the VPC id
    and the S3 gateway endpoint id.
    """

    @property
    def availability_zones(self) -> list[str]:
        """Without an account and region CDK offers 2 AZs (``Fn::GetAZs`` picks them at
        deploy time); this stack offers as many as the network needs (3 for the warehouse),
        picked the same way. With an environment, CDK's own lookup applies."""
        if cdk.Token.is_unresolved(self.region) and self._network_azs > 2:
            return [cdk.Fn.select(i, cdk.Fn.get_azs()) for i in range(self._network_azs)]
        return super().availability_zones

    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("data-lake"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault(
            "description", "ml-blueprints data lake layer: private VPC and secure S3 data lake"
        )
        self._network_azs = settings.network_azs
        super().__init__(scope, id, **kwargs)
        self.network = PrivateNetwork(
            self,
            "Network",
            max_azs=settings.network_azs,
            nat_gateways=settings.nat_gateways,
            interface_endpoints=settings.interface_endpoints,
            flow_log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal_policy,
        )
        self.lake = SecureDataLake(
            self,
            "Lake",
            bucket_name_prefix=settings.bucket_name_prefix,
            vpc_endpoint=self.network.s3_endpoint,
            exempt_role_name_prefixes=[settings.service_role_prefix],
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal_policy,
        )
        #: One key for every layer's alert topic: the operators who read alarms are one trust
        #: boundary, and a key bills by the month whatever it encrypts (one instead of four).
        self.alerts_key = kms.Key(
            self,
            "AlertsKey",
            description="Encrypts the alert topics of every ml-blueprints layer",
            enable_key_rotation=True,
            removal_policy=settings.removal_policy,
            pending_window=cdk.Duration.days(7) if settings.sandbox else None,
        )

        for zone, bucket in self.lake.buckets.items():
            cdk.CfnOutput(
                self,
                f"{zone.capitalize()}BucketName",
                value=bucket.bucket_name,
                description=f"S3 bucket of the {zone} zone",
            )
        cdk.CfnOutput(
            self,
            "AccessLogsBucketName",
            value=self.lake.access_logs_bucket.bucket_name,
            description="S3 bucket receiving the zones' server access logs",
        )
        cdk.CfnOutput(
            self,
            "LakeKeyArn",
            value=self.lake.key.key_arn,
            description="KMS key encrypting every zone",
        )
        cdk.CfnOutput(self, "VpcId", value=self.network.vpc.vpc_id, description="VPC id")
        cdk.CfnOutput(
            self,
            "S3EndpointId",
            value=self.network.s3_endpoint.vpc_endpoint_id,
            description="S3 gateway endpoint the lake's bucket policies trust",
        )

    def alert_topic(self, scope: Construct, id: str) -> AlertTopic:
        """An :class:`AlertTopic` in ``scope`` (a layer's stack) encrypted with
        :attr:`alerts_key`; CloudWatch alarms and EventBridge of this account may publish."""
        return AlertTopic(scope, id, key=self.alerts_key)
