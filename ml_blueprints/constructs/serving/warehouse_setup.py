"""The Warehouse's deploy-time setup: one Lambda function behind two custom resources.

``ml_blueprints/runtime/redshift_setup.py`` creates the external schema over the Glue
database (SQL through the Redshift Data API as the namespace's admin) and the workgroup's
RPU-hour usage limits (no CloudFormation type exists for them). These builders create the
function, its role (exactly what those calls need) and log group, and the custom resources.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_blueprints.compliance import acknowledge_rule, acknowledge_wildcard_resources
from ml_blueprints.constructs.shared.defaults import LOG_RETENTION
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.validation import typed_props

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
SETUP_MODULE = "redshift_setup"
EXTERNAL_SCHEMA_TYPE = "Custom::RedshiftExternalSchema"
USAGE_LIMIT_TYPE = "Custom::RedshiftUsageLimit"
#: The setup function's timeout; CloudFormation waits a little longer for its answer.
SETUP_TIMEOUT = cdk.Duration.minutes(5)
SERVICE_TIMEOUT = cdk.Duration.minutes(8)
#: Usage-limit actions, which have no resource-level permissions.
USAGE_LIMIT_ACTIONS: tuple[str, ...] = (
    "redshift-serverless:CreateUsageLimit",
    "redshift-serverless:UpdateUsageLimit",
    "redshift-serverless:DeleteUsageLimit",
    "redshift-serverless:ListUsageLimits",
)


class SetupFunction(Construct):
    """The Python function serving ``Custom::RedshiftExternalSchema`` and
    ``Custom::RedshiftUsageLimit`` for one workgroup.

    Its role may run SQL through the Data API on ``workgroup_arn`` only, follow and cancel
    its own statements, read the namespace and its Redshift-managed admin secret (named
    ``redshift!<namespace>-<admin>-...``) and decrypt it through Secrets Manager, and manage
    usage limits. It logs to an encrypted group kept ``log_retention_days``. It runs outside
    the VPC: it calls only AWS APIs (inside the isolated subnets it would need interface
    endpoints billed every hour for a function that runs on deploys only).

    Attributes: ``function``, ``role``, ``log_group``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workgroup_arn: str,
        namespace_arn: str,
        namespace_name: str,
        admin_username: str,
        key: kms.IKey,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        self.role = ManagedPolicyRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Creates the warehouse's external schema and usage limits at deploy time",
        )
        secret_arn = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"redshift!{namespace_name}-{admin_username}-??????",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        statements = [
            iam.PolicyStatement(
                sid="RunSetupSqlInTheWorkgroup",
                actions=["redshift-data:ExecuteStatement"],
                resources=[workgroup_arn],
            ),
            iam.PolicyStatement(
                sid="FollowItsOwnStatements",
                actions=["redshift-data:DescribeStatement", "redshift-data:CancelStatement"],
                resources=["*"],
                conditions={
                    "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
                },
            ),
            iam.PolicyStatement(
                sid="FindTheAdminSecret",
                actions=["redshift-serverless:GetNamespace"],
                resources=[namespace_arn],
            ),
            iam.PolicyStatement(
                sid="ReadTheAdminSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[secret_arn],
            ),
            iam.PolicyStatement(
                sid="DecryptTheAdminSecret",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"
                    }
                },
            ),
            iam.PolicyStatement(
                sid="ManageUsageLimits", actions=list(USAGE_LIMIT_ACTIONS), resources=["*"]
            ),
        ]
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        self.log_group.grant_write(self.role)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            ["*"],
            "The Data API's DescribeStatement/CancelStatement and Redshift Serverless' "
            "usage-limit actions have no resource-level permissions; the statements are "
            "limited to the caller's own by the statement-owner condition.",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Sets up a Redshift Serverless warehouse at deploy time (ml-blueprints)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler=f"{SETUP_MODULE}.handler",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR), exclude=["*", f"!{SETUP_MODULE}.py"]),
            memory_size=256,
            timeout=SETUP_TIMEOUT,
            reserved_concurrent_executions=2,
            role=self.role,
            log_group=self.log_group,
        )
        self.function.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]
        acknowledge_rule(
            self.function,
            "LambdaInsideVPC",
            "The setup function calls only AWS APIs (the Redshift Data API, Redshift "
            "Serverless, CloudFormation's response URL) on deploys; in the isolated subnets "
            "it would need interface endpoints billed every hour for a function that runs "
            "for seconds per deployment. The warehouse itself stays in the private subnets.",
        )
        acknowledge_rule(
            self.function,
            "LambdaDLQ",
            "CloudFormation is the only caller and the function answers every request, "
            "failures included, on CloudFormation's response URL; the failed stack event is "
            "the record, so a dead-letter queue would hold nothing to act on.",
        )

    @typed_props
    def resource(
        self, scope: Construct, id: str, resource_type: str, properties: dict[str, object]
    ) -> cdk.CustomResource:
        """A custom resource of ``resource_type`` served by this function; it is deleted
        before the function's permissions and log group are."""
        resource = cdk.CustomResource(
            scope,
            id,
            service_token=self.function.function_arn,
            resource_type=resource_type,
            properties=properties,
            service_timeout=SERVICE_TIMEOUT,
        )
        resource.node.add_dependency(self.role.grants_policy, self.log_group)  # type: ignore[arg-type]
        return resource
