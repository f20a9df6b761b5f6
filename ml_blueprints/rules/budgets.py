"""Rules for AWS Budgets (``AWS::Budgets::Budget``), which no cdk-nag pack checks."""

from __future__ import annotations

from ml_blueprints.rules.base import Properties, Rule, get_path, is_intrinsic

BUDGET = "AWS::Budgets::Budget"


def budget_notifies_subscribers(properties: Properties) -> bool:
    """At least one notification, and every notification has at least one subscriber."""
    notifications = properties.get("NotificationsWithSubscribers")
    if is_intrinsic(notifications) or not isinstance(notifications, list):
        return False
    return len(notifications) > 0 and all(
        isinstance(get_path(n, "Subscribers"), list) and len(n["Subscribers"]) > 0
        for n in notifications
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "BudgetNotifiesSubscribers",
        BUDGET,
        "The budget has no notification with a subscriber.",
        "A budget nobody is told about is a number in a console: cost overruns go unnoticed "
        "until the invoice.",
        budget_notifies_subscribers,
    ),
)
