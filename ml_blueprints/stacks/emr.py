"""EmrStack: the big-data layer: an EMR Spark cluster over the lake (opt-in: it costs)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs.analytics.spark_etl_job import SCRIPT, script_modules_asset
from ml_blueprints.constructs.bigdata.spark_cluster import SparkCluster, SparkStep
from ml_blueprints.stacks.data_lake import DataLakeStack


class EmrStack(cdk.Stack):
    """A SparkCluster in the data lake layer's network, with the ETL job as an example step.

    Only in the app with ``-c emr=true``: a running cluster costs by the hour (see the
    README). It auto-terminates after an hour idle. The interface endpoints it needs in the
    isolated subnets (EMR, KMS, STS, Glue: about $0.01 per hour each per AZ) are added to the
    data lake layer's network while ``emr`` is on (:attr:`Settings.interface_endpoints`).

    Outputs: the cluster id and its log location.
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, data_lake: DataLakeStack, **kwargs
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("emr"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault("description", "ml-blueprints big-data layer: EMR Spark cluster")
        super().__init__(scope, id, **kwargs)
        network = data_lake.network
        lake = data_lake.lake
        self.cluster = SparkCluster(
            self,
            "Spark",
            lake=lake,
            network=network,
            name=f"mlbp-{settings.env_name}-spark",
        )
        raw = lake.bucket("raw").bucket_name
        curated = lake.bucket("curated").bucket_name
        # The script's modules, as one zip on the step's Python path.
        modules = script_modules_asset(self, "EtlModules")
        self.cluster.instance_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheEtlModules",
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:s3:::{modules.s3_bucket_name}/{modules.s3_object_key}"
                ],
            )
        )
        self.cluster.add_spark_step(
            SparkStep(
                name="raw-events-to-curated",
                script=str(SCRIPT),
                spark_submit_options=(
                    "--deploy-mode",
                    "cluster",
                    "--py-files",
                    modules.s3_object_url,
                ),
                arguments=[
                    "--input-path",
                    f"s3://{raw}/events/",
                    "--output-path",
                    f"s3://{curated}/emr/events/",
                    "--quarantine-path",
                    f"s3://{curated}/emr/quarantine/events/",
                ],
            )
        )
        cdk.CfnOutput(self, "ClusterId", value=self.cluster.cluster_id, description="EMR cluster")
        cdk.CfnOutput(
            self, "LogUri", value=self.cluster.log_uri, description="Where the cluster's logs go"
        )
