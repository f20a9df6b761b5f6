"""CostBudget: a monthly cost budget, its notifications, its encrypted topic, its checks."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import BudgetThresholds, CostBudget
from tests.conftest import Synthesized


def _one(app: Synthesized, stack: str, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = app.resources(stack, resource_type)
    assert len(found) == 1, (stack, resource_type, list(found))
    return next(iter(found.items()))


def _notifications(budget: dict[str, Any]) -> list[tuple[str, float, str]]:
    return sorted(
        (
            n["Notification"]["NotificationType"],
            n["Notification"]["Threshold"],
            n["Notification"]["ThresholdType"],
        )
        for n in budget["Properties"]["NotificationsWithSubscribers"]
    )


def test_default_budget_is_monthly_cost_with_actual_and_forecast_alerts(
    project: Synthesized,
) -> None:
    _, budget = _one(project, "Governance", "AWS::Budgets::Budget")
    data = budget["Properties"]["Budget"]
    assert (data["BudgetType"], data["TimeUnit"]) == ("COST", "MONTHLY")
    assert data["BudgetLimit"] == {"Amount": 50, "Unit": "USD"}
    assert data["BudgetName"] == "mlbp-dev-monthly"
    assert _notifications(budget) == [
        ("ACTUAL", 80, "PERCENTAGE"),
        ("ACTUAL", 100, "PERCENTAGE"),
        ("FORECASTED", 100, "PERCENTAGE"),
    ]
    topic_id, _ = _one(project, "Governance", "AWS::SNS::Topic")
    for notification in budget["Properties"]["NotificationsWithSubscribers"]:
        assert notification["Notification"]["ComparisonOperator"] == "GREATER_THAN"
        assert notification["Subscribers"] == [
            {"SubscriptionType": "SNS", "Address": {"Ref": topic_id}}
        ]


def test_the_budget_counts_only_this_project_and_environment(project: Synthesized) -> None:
    _, budget = _one(project, "Governance", "AWS::Budgets::Budget")
    expression = budget["Properties"]["Budget"]["FilterExpression"]
    assert expression == {
        "And": [
            {"Tags": {"Key": "environment", "Values": ["dev"], "MatchOptions": ["EQUALS"]}},
            {"Tags": {"Key": "project", "Values": ["ml-blueprints"], "MatchOptions": ["EQUALS"]}},
        ]
    }
    assert "CostFilters" not in budget["Properties"]["Budget"]


def test_only_budgets_of_this_account_may_publish_to_the_encrypted_topic(
    project: Synthesized,
) -> None:
    topic_id, topic = _one(project, "Governance", "AWS::SNS::Topic")
    key_id, key = _one(project, "Governance", "AWS::KMS::Key")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    _, policy = _one(project, "Governance", "AWS::SNS::TopicPolicy")
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    allow = statements["AllowBudgetsOfThisAccountToPublish"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "arn:aws:budgets::" not in str(allow)  # partition is not hard-coded
    assert ":budgets::" in str(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert statements["AllowPublishThroughSSLOnly"]["Effect"] == "Deny"
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    publishers = [s for s in key_statements if s.get("Sid", "").startswith("AllowPublishersOf")]
    assert len(publishers) == 1
    services = publishers[0]["Principal"]["Service"]
    assert "budgets.amazonaws.com" in services and "cloudwatch.amazonaws.com" in services
    assert sorted(publishers[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert publishers[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }


def test_the_topic_policy_is_in_place_before_the_budget(project: Synthesized) -> None:
    _, budget = _one(project, "Governance", "AWS::Budgets::Budget")
    policy_id, _ = _one(project, "Governance", "AWS::SNS::TopicPolicy")
    assert policy_id in budget["DependsOn"]


def test_variant_thresholds_tag_emails_and_own_key(construct_variants: Synthesized) -> None:
    _, budget = _one(construct_variants, "GovernanceVariants", "AWS::Budgets::Budget")
    data = budget["Properties"]["Budget"]
    assert data["BudgetLimit"] == {"Amount": 1234.5, "Unit": "USD"}
    assert "BudgetName" not in data
    assert data["FilterExpression"] == {
        "Tags": {"Key": "team", "Values": ["ml"], "MatchOptions": ["EQUALS"]}
    }
    assert _notifications(budget) == [
        ("ACTUAL", 50, "PERCENTAGE"),
        ("FORECASTED", 90, "PERCENTAGE"),
        ("FORECASTED", 110, "PERCENTAGE"),
    ]
    subscriptions = construct_variants.resources("GovernanceVariants", "AWS::SNS::Subscription")
    assert sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subscriptions.values()
    ) == [
        ("email", "finance@example.com"),
        ("email", "ops@example.com"),
    ]
    keys = construct_variants.resources("GovernanceVariants", "AWS::KMS::Key")
    topic_keys = [k for k in keys if k.startswith("BudgetAlertsKey")]
    assert len(topic_keys) == 1
    statements = keys[topic_keys[0]]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Sid") == "AllowAlarmPublishers" for s in statements)


def _budget(**props: Any) -> None:
    stack = cdk.Stack(cdk.App(), "Budget")
    CostBudget(stack, "Budget", **{"amount_usd": 50, **props})


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"amount_usd": 0}, "amount_usd=0: US dollars a month, 1 to 1,000,000"),
        ({"amount_usd": 2_000_000}, "amount_usd=2000000: US dollars a month"),
        ({"amount_usd": True}, "amount_usd=True: a number"),  # a type error: validation layer
        ({"amount_usd": "50"}, "amount_usd='50': a number"),
        (
            {"thresholds": BudgetThresholds(actual_percent=(0,))},
            "thresholds.actual_percent=0: a percentage of the budget, 1 to 1,000",
        ),
        (
            {"thresholds": BudgetThresholds(forecast_percent=(1001,))},
            "thresholds.forecast_percent=1001: a percentage of the budget",
        ),
        (
            {"thresholds": BudgetThresholds(actual_percent=(80, 80))},
            "thresholds.actual_percent=(80, 80): distinct percentages",
        ),
        (
            {
                "thresholds": BudgetThresholds(
                    actual_percent=(50, 60, 70, 80), forecast_percent=(90, 100)
                )
            },
            "thresholds=6: 1 to 5 notifications in all",
        ),
        (
            {"thresholds": BudgetThresholds(actual_percent=(), forecast_percent=())},
            "thresholds=0: 1 to 5 notifications in all",
        ),
        (
            {"thresholds": BudgetThresholds(actual_percent=[80])},  # type: ignore[arg-type]
            "thresholds.actual_percent=[80]: a tuple of percentages",
        ),
        ({"thresholds": {"actual": 80}}, "thresholds={'actual': 80}: a BudgetThresholds"),
        ({"tags": {"aws:createdBy": "x"}}, "tags='aws:createdBy': cost-allocation tag keys"),
        ({"tags": {"project": ""}}, "tags['project']='': a tag value of 1 to 256 characters"),
        ({"budget_name": "a:b"}, "budget_name='a:b': 1-100 characters without ':'"),
        ({"emails": ["not-an-address"]}, "emails='not-an-address': e-mail addresses"),
    ],
)
def test_bad_props_are_refused(props: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^CostBudget Budget/Budget: invalid prop") as error:
        _budget(**props)
    assert expected in str(error.value)


def test_every_bad_prop_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as error:
        _budget(amount_usd=-5, tags={"aws:x": "y"}, budget_name="x\\y", emails=["x"])
    message = str(error.value)
    assert message.startswith("CostBudget Budget/Budget: invalid props:")
    assert all(p in message for p in ("amount_usd=", "tags=", "budget_name=", "emails="))


def test_alert_topic_publishers_must_be_service_principals() -> None:
    """The AlertTopic option the budget relies on (``publishers``) is validated too."""
    from ml_blueprints.constructs import AlertTopic

    stack = cdk.Stack(cdk.App(), "Topic")
    with pytest.raises(ValueError, match=r"^AlertTopic: invalid prop") as error:
        AlertTopic(stack, "Alerts", publishers=("budgets",))
    assert "publishers='budgets': AWS service principals such as cloudwatch.amazonaws.com" in (
        str(error.value)
    )
