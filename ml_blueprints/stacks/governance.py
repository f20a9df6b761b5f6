"""GovernanceStack: what the platform costs and who did what: a budget and the audit trail."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import AuditTrail, CostBudget
from ml_blueprints.stacks.data_lake import DataLakeStack


class GovernanceStack(cdk.Stack):
    """A monthly cost budget on the project's tags and a CloudTrail trail over the lake.

    - :class:`CostBudget` of ``budget_usd`` (context; 50 by default) scoped to resources
      tagged ``project=ml-blueprints`` and ``environment=<env_name>`` (activate both as
      cost-allocation tags), notifying actual spend above 80 % and 100 % and a forecast
      above 100 % to an encrypted topic ``budget_emails`` subscribe to.
    - :class:`AuditTrail`: multi-region, management events (every KMS call on the lake key
      among them) and S3 data events on the lake's zone buckets (the access-logs bucket is
      left out: S3 writes it, nobody reads it through the API).

    One customer-managed key encrypts the trail's logs, its log group and the budget topic:
    all three are the governance team's, read by the same people (one key instead of two,
    $1 a month less; see the README's cost section).

    Outputs: the budget name, the alert topic ARN, the trail ARN, its bucket and log group.
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, data_lake: DataLakeStack, **kwargs
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("governance"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault(
            "description", "ml-blueprints governance layer: cost budget and CloudTrail audit trail"
        )
        super().__init__(scope, id, **kwargs)
        removal = settings.removal_policy
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the audit trail, its log group and the budget alert topic",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=cdk.Duration.days(7) if removal == cdk.RemovalPolicy.DESTROY else None,
        )
        self.budget = CostBudget(
            self,
            "Budget",
            amount_usd=settings.budget_usd,
            tags=settings.tags,
            emails=settings.budget_emails,
            key=self.key,
            budget_name=f"mlbp-{settings.env_name}-monthly",
            removal_policy=removal,
        )
        self.trail = AuditTrail(
            self,
            "Trail",
            data_event_buckets=list(data_lake.lake.buckets.values()),
            encryption_key=self.key,
            trail_name=f"mlbp-{settings.env_name}-audit",
            log_retention_days=settings.log_retention_days,
            removal_policy=removal,
        )
        outputs = {
            "BudgetName": (self.budget.budget.ref, "AWS Budgets cost budget (monthly)"),
            "AlertTopicArn": (self.budget.topic.topic_arn, "Budget notifications: subscribe"),
            "TrailArn": (self.trail.trail.attr_arn, "CloudTrail trail (multi-region)"),
            "TrailBucketName": (self.trail.bucket.bucket_name, "Where the trail's logs land"),
            "TrailLogGroupName": (
                self.trail.log_group.log_group_name,
                "CloudWatch Logs group the trail writes to",
            ),
        }
        for output_id, (value, description) in outputs.items():
            cdk.CfnOutput(self, output_id, value=value, description=description)
