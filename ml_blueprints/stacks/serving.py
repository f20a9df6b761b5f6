"""ServingStack: the data stores an ML platform serves from (the notes' serving layer)."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import ResultsTable, Warehouse
from ml_blueprints.stacks.analytics import AnalyticsStack
from ml_blueprints.stacks.data_lake import DataLakeStack


class ServingStack(cdk.Stack):
    """ML outputs in DynamoDB always; a Redshift Serverless warehouse opt-in.

    Always: the results table (on-demand, nothing billed idle but storage and its key),
    where the training pipeline records every run. ``-c warehouse=true``: Redshift
    Serverless in the data lake's private subnets (the VPC then spans three AZs) with an
    external schema ``lake`` over the analytics layer's Glue database, so analysts query
    the curated zone with Spectrum; $0 of compute while no query runs, a daily RPU-hour
    ceiling when they do. Deployed after the analytics layer when the warehouse is on.

    Outputs: the table's name and ARN; with the warehouse, its workgroup, endpoint,
    namespace, external schema, Spectrum role and security group.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        data_lake: DataLakeStack,
        analytics: AnalyticsStack,
        **kwargs,
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("serving"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault(
            "description", "ml-blueprints serving layer: DynamoDB results, Redshift Serverless"
        )
        super().__init__(scope, id, **kwargs)
        self.results = ResultsTable(self, "Results", removal_policy=settings.removal_policy)
        outputs: dict[str, tuple[str, str]] = {
            "ResultsTableName": (
                self.results.table.table_name,
                "DynamoDB table of ML outputs and training-run records",
            ),
            "ResultsTableArn": (self.results.table.table_arn, "Its ARN"),
        }
        self.warehouse: Warehouse | None = None
        if settings.warehouse:
            self.add_stack_dependency(analytics, "the external schema maps its Glue database")
            name = f"mlbp-{settings.env_name}-warehouse"
            self.warehouse = Warehouse(
                self,
                "Warehouse",
                lake=data_lake.lake,
                network=data_lake.network,
                catalog_database_name=analytics.catalog.database_name,
                namespace_name=name,
                workgroup_name=name,
                spectrum_role_name=f"{settings.service_role_prefix}spectrum",
                log_retention_days=settings.log_retention_days,
                removal_policy=settings.removal_policy,
            )
            warehouse = self.warehouse
            outputs.update(
                {
                    "WorkgroupName": (warehouse.workgroup_name, "Redshift Serverless workgroup"),
                    "WorkgroupEndpoint": (
                        warehouse.endpoint_address,
                        "Its endpoint (port 5439, from inside the VPC)",
                    ),
                    "NamespaceName": (
                        warehouse.namespace_name,
                        "Namespace (its admin secret: redshift!<namespace>-warehouse_admin-*)",
                    ),
                    "ExternalSchema": (
                        warehouse.external_schema_name,
                        "External schema over the lake's Glue database (Spectrum)",
                    ),
                    "SpectrumRoleArn": (warehouse.spectrum_role.role_arn, "Spectrum's role"),
                    "WarehouseSecurityGroupId": (
                        warehouse.security_group.security_group_id,
                        "Security group clients are allowed into",
                    ),
                }
            )
        for output_id, (value, description) in outputs.items():
            cdk.CfnOutput(self, output_id, value=value, description=description)
