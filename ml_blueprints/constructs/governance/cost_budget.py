"""CostBudget: a monthly AWS Budgets cost budget that warns before and after money is spent.

The course notes open the AWS list with AWS Budgets. A budget compares what the account (or,
with ``tags``, the resources carrying the project's cost-allocation tags) costs this month
with an amount, and notifies when the actual cost passes a share of it or when AWS forecasts
that the month will end above it. Notifications go to an encrypted SNS topic (an
:class:`~ml_blueprints.constructs.AlertTopic` that AWS Budgets may publish to), so e-mail,
chat or ticketing subscribe in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_blueprints.constructs.shared.alert_topic import PUBLISHERS, AlertTopic
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

#: The service principal AWS Budgets publishes notifications as.
BUDGETS_SERVICE = "budgets.amazonaws.com"
#: AWS Budgets allows at most this many notifications per budget.
MAX_NOTIFICATIONS = 5
#: Largest monthly amount accepted (a guard against a typo of several orders of magnitude).
MAX_AMOUNT_USD = 1_000_000
_BUDGET_NAME = re.compile(r"^[^:\\]{1,100}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")


@dataclass(frozen=True)
class BudgetThresholds(TypedProps):
    """When the budget notifies, in percent of the monthly amount.

    - ``actual_percent``: (80, 100): the month's actual cost passed 80 % and 100 %.
    - ``forecast_percent``: (100,): AWS forecasts the month to end above the amount.

    Each threshold is one notification (AWS Budgets allows five per budget); each is
    1 to 1,000 percent.
    """

    actual_percent: tuple[float, ...] = (80, 100)
    forecast_percent: tuple[float, ...] = (100,)

    def validate(self, errors: PropErrors) -> None:
        """Record every bad threshold in ``errors``."""
        for name in ("actual_percent", "forecast_percent"):
            values = getattr(self, name)
            if not isinstance(values, tuple):
                errors.add(f"thresholds.{name}", values, "a tuple of percentages")
                continue
            for value in values:
                errors.require(
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and 1 <= value <= 1000,
                    f"thresholds.{name}",
                    value,
                    "a percentage of the budget, 1 to 1,000",
                )
            errors.require(
                len(set(values)) == len(values),
                f"thresholds.{name}",
                values,
                "distinct percentages (one notification each)",
            )
        count = len(self.actual_percent) + len(self.forecast_percent)
        errors.require(
            1 <= count <= MAX_NOTIFICATIONS,
            "thresholds",
            count,
            f"1 to {MAX_NOTIFICATIONS} notifications in all (AWS Budgets' limit per budget)",
        )


class CostBudget(Construct):
    """A monthly COST budget of ``amount_usd`` with actual and forecast notifications.

    Defaults:

    - ``thresholds``: :class:`BudgetThresholds` (actual above 80 % and 100 %, forecast
      above 100 %).
    - ``tags``: none, so the budget covers the whole account. With tags (``{"project":
      "ml-blueprints", "environment": "dev"}``) it covers only resources carrying all of
      them; AWS counts a tag only once it is activated as a cost-allocation tag in the
      Billing console (until then the budget sees $0).
    - Notifications go to a new :class:`AlertTopic` (``topic``) that AWS Budgets of this
      account may publish to, encrypted with ``key`` (a new key with rotation when not
      given), with ``emails`` subscribed (each address confirms by e-mail).
    - ``budget_name``: none (CloudFormation generates one).
    - ``removal_policy``: RETAIN for a new key (the budget itself is deleted with the stack).

    Attributes: ``budget`` (the ``CfnBudget``), ``alerts`` (the :class:`AlertTopic`),
    ``topic``, ``amount_usd``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        amount_usd: float,
        thresholds: BudgetThresholds | None = None,
        tags: Mapping[str, str] | None = None,
        emails: Sequence[str] = (),
        key: kms.IKey | None = None,
        budget_name: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        limits = thresholds if thresholds is not None else BudgetThresholds()
        _validate(self.node.path, amount_usd, limits, tags or {}, budget_name, emails)

        self.amount_usd = float(amount_usd)
        self.alerts = AlertTopic(
            self,
            "Alerts",
            emails=emails,
            publishers=(*PUBLISHERS, BUDGETS_SERVICE),
            key=key,
            removal_policy=removal_policy,
        )
        self.topic = self.alerts.topic
        stack = cdk.Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBudgetsOfThisAccountToPublish",
                principals=[iam.ServicePrincipal(BUDGETS_SERVICE)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:budgets::{stack.account}:*"
                    },
                },
            )
        )

        subscriber = budgets.CfnBudget.SubscriberProperty(
            subscription_type="SNS", address=self.topic.topic_arn
        )
        notifications = [
            budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=float(percent),
                    threshold_type="PERCENTAGE",
                ),
                subscribers=[subscriber],
            )
            for kind, percents in (
                ("ACTUAL", limits.actual_percent),
                ("FORECASTED", limits.forecast_percent),
            )
            for percent in percents
        ]
        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_name=budget_name,
                budget_limit=budgets.CfnBudget.SpendProperty(amount=self.amount_usd, unit="USD"),
                filter_expression=_tag_filter(tags or {}),
            ),
            notifications_with_subscribers=notifications,
        )
        # The topic policy must exist before AWS Budgets checks it may publish.
        policy = self.topic.node.try_find_child("Policy")
        if policy is not None:
            self.budget.node.add_dependency(policy)


def _tag_filter(tags: Mapping[str, str]) -> budgets.CfnBudget.ExpressionProperty | None:
    """Resources carrying every one of ``tags`` (cost-allocation tags), or ``None``."""
    expressions = [
        budgets.CfnBudget.ExpressionProperty(
            tags=budgets.CfnBudget.TagValuesProperty(
                key=key, values=[value], match_options=["EQUALS"]
            )
        )
        for key, value in sorted(tags.items())
    ]
    if not expressions:
        return None
    if len(expressions) == 1:
        return expressions[0]
    return budgets.CfnBudget.ExpressionProperty(and_=expressions)


def _validate(
    owner: str,
    amount_usd: object,
    thresholds: BudgetThresholds,
    tags: Mapping[str, str],
    budget_name: str | None,
    emails: Sequence[str],
) -> None:
    errors = PropErrors(f"CostBudget {owner}")
    for email in emails:
        errors.require(
            isinstance(email, str) and bool(_EMAIL.match(email)),
            "emails",
            email,
            "e-mail addresses such as ops@example.com",
        )
    errors.require(
        isinstance(amount_usd, int | float)
        and not isinstance(amount_usd, bool)
        and 1 <= amount_usd <= MAX_AMOUNT_USD,
        "amount_usd",
        amount_usd,
        f"US dollars a month, 1 to {MAX_AMOUNT_USD:,}",
    )
    if isinstance(thresholds, BudgetThresholds):
        thresholds.validate(errors)
    else:
        errors.add("thresholds", thresholds, "a BudgetThresholds")
    for key, value in tags.items():
        errors.require(
            isinstance(key, str) and bool(_TAG_KEY.match(key)) and not key.startswith("aws:"),
            "tags",
            key,
            "cost-allocation tag keys you define: 1-128 letters, digits, spaces and "
            "_.:/=+-@, not starting with 'aws:'",
        )
        errors.require(
            isinstance(value, str) and 0 < len(value) <= 256,
            f"tags[{key!r}]",
            value,
            "a tag value of 1 to 256 characters",
        )
    if budget_name is not None and not cdk.Token.is_unresolved(budget_name):
        errors.require(
            isinstance(budget_name, str) and bool(_BUDGET_NAME.match(budget_name)),
            "budget_name",
            budget_name,
            "1-100 characters without ':' or '\\'",
        )
    errors.raise_if_any()
