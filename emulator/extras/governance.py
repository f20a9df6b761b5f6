"""``AWS::Budgets::Budget`` and ``AWS::CloudTrail::Trail`` through MiniStack's Budgets and
CloudTrail APIs (it implements both services but provisions neither from a template).

Budget: ``CreateBudget`` with the template's notifications, subscribers and resource tags;
``UpdateBudget`` and the tagging API in place; ``BudgetName`` and
``NotificationsWithSubscribers`` are create-only, as in CloudFormation's schema, so a change
to either replaces the budget (refused, as CloudFormation does, while the template keeps the
same ``BudgetName``). ``Ref`` and ``Id`` are the budget's name; amounts become the API's
strings (``50`` -> ``"50.0"``).

Trail: ``CreateTrail``, then ``UpdateTrail`` for what MiniStack's ``CreateTrail`` does not
store (the CloudWatch Logs group and role), ``PutEventSelectors``, ``StartLogging`` or
``StopLogging`` for ``IsLogging``, and ``AddTags``; updates in place the same way (a removed
setting returns to the API's default); ``TrailName`` is create-only. ``Ref`` is the trail's
name, ``Arn`` its ARN. ``InsightSelectors`` is refused: MiniStack has no
``PutInsightSelectors``.

Nothing is delivered: MiniStack records the trail's configuration, it writes no log files to
the bucket and no events to the log group.
"""

from __future__ import annotations

import copy
from typing import Any

from ministack.core.responses import get_account_id, get_region
from ministack.services import budgets, cloudtrail
from ministack.services.cloudformation import provisioners

from emulator.extras import Handler, call, custom_name_replacement

BUDGET = "AWS::Budgets::Budget"
TRAIL = "AWS::CloudTrail::Trail"

# ---------------------------------------------------------------------------- Budgets


def _amount(value: Any) -> str:
    return repr(float(value))  # the API's Spend.Amount is a decimal string


def _budget(props: dict, name: str) -> dict:
    budget = copy.deepcopy(props["Budget"])
    budget["BudgetName"] = name
    limits = [budget.get("BudgetLimit"), *(budget.get("PlannedBudgetLimits") or {}).values()]
    for limit in limits:
        if isinstance(limit, dict) and "Amount" in limit:
            limit["Amount"] = _amount(limit["Amount"])
    return budget


def _budget_create(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
    name = props["Budget"].get("BudgetName") or provisioners._physical_name(
        stack_name, logical_id, max_len=100
    )
    request = {
        "AccountId": get_account_id(),
        "Budget": _budget(props, name),
        "NotificationsWithSubscribers": props.get("NotificationsWithSubscribers") or [],
        "ResourceTags": props.get("ResourceTags") or [],
    }
    call(budgets._create_budget, request, f"{BUDGET} create")
    return name, {"Id": name}


def _budget_delete(physical_id: str, props: dict) -> None:
    budgets._delete_budget({"AccountId": get_account_id(), "BudgetName": physical_id})


def _budget_update(
    physical_id: str, old: dict, new: dict, stack_name: str, logical_id: str | None = None
) -> tuple[str, dict]:
    named = new["Budget"].get("BudgetName")
    replaced = (named or physical_id) != physical_id or old.get(
        "NotificationsWithSubscribers"
    ) != new.get("NotificationsWithSubscribers")
    if replaced:
        if named == physical_id:
            raise custom_name_replacement(physical_id)
        if not named:
            _budget_delete(physical_id, old)  # a generated name comes out the same: old first
        created = _budget_create(logical_id or physical_id, new, stack_name)
        if named:
            _budget_delete(physical_id, old)
        return created
    request = {"AccountId": get_account_id(), "NewBudget": _budget(new, physical_id)}
    call(budgets._update_budget, request, f"{BUDGET} update")
    arn = budgets._budget_arn(physical_id)
    kept = {tag["Key"] for tag in new.get("ResourceTags") or []}
    gone = sorted({tag["Key"] for tag in old.get("ResourceTags") or []} - kept)
    if gone:
        request = {"ResourceARN": arn, "ResourceTagKeys": gone}
        call(budgets._untag_resource, request, f"{BUDGET} untag")
    if new.get("ResourceTags"):
        request = {"ResourceARN": arn, "ResourceTags": new["ResourceTags"]}
        call(budgets._tag_resource, request, f"{BUDGET} tag")
    return physical_id, {"Id": physical_id}


# ------------------------------------------------------------------------- CloudTrail

#: CloudFormation property -> (CreateTrail/UpdateTrail parameter, its value when unset).
_TRAIL_SETTINGS: dict[str, tuple[str, Any]] = {
    "S3BucketName": ("S3BucketName", ""),
    "S3KeyPrefix": ("S3KeyPrefix", ""),
    "SnsTopicName": ("SnsTopicName", ""),
    "IncludeGlobalServiceEvents": ("IncludeGlobalServiceEvents", True),
    "IsMultiRegionTrail": ("IsMultiRegionTrail", False),
    "EnableLogFileValidation": ("EnableLogFileValidation", False),
    "KMSKeyId": ("KmsKeyId", ""),
    "CloudWatchLogsLogGroupArn": ("CloudWatchLogsLogGroupArn", ""),
    "CloudWatchLogsRoleArn": ("CloudWatchLogsRoleArn", ""),
    "IsOrganizationTrail": ("IsOrganizationTrail", False),
}
_SELECTORS = ("EventSelectors", "AdvancedEventSelectors")


def _trail_settings(props: dict) -> dict[str, Any]:
    """Every UpdateTrail parameter: the template's value, else the API's default."""
    settings = {}
    for prop, (parameter, unset) in _TRAIL_SETTINGS.items():
        value = props.get(prop, unset)
        settings[parameter] = provisioners._cfn_bool(value) if isinstance(unset, bool) else value
    return settings


def _trail_attributes(name: str, props: dict) -> dict[str, str]:
    attributes = {"Arn": cloudtrail._trail_arn(name)}
    topic = props.get("SnsTopicName")
    if topic:
        attributes["SnsTopicArn"] = (
            topic
            if topic.startswith("arn:")
            else f"arn:aws:sns:{get_region()}:{get_account_id()}:{topic}"
        )
    return attributes


def _trail_apply(name: str, old: dict, new: dict) -> tuple[str, dict]:
    """Settings, event selectors, logging and tags of ``new`` (``old``: what was applied)."""
    if new.get("InsightSelectors"):
        raise ValueError(f"{TRAIL} InsightSelectors: the emulator has no PutInsightSelectors")
    call(cloudtrail._update_trail, {"Name": name, **_trail_settings(new)}, f"{TRAIL} settings")
    selectors = {key: new[key] for key in _SELECTORS if new.get(key)}
    if selectors or any(old.get(key) for key in _SELECTORS):
        request = {"TrailName": name, **(selectors or {"EventSelectors": [{}]})}  # {}: default
        call(cloudtrail._put_event_selectors, request, f"{TRAIL} event selectors")
    logging = provisioners._cfn_bool(new.get("IsLogging", False))
    if not old or logging != provisioners._cfn_bool(old.get("IsLogging", False)):
        switch = cloudtrail._start_logging if logging else cloudtrail._stop_logging
        call(switch, {"Name": name}, f"{TRAIL} IsLogging")
    arn = cloudtrail._trail_arn(name)
    kept = {tag["Key"] for tag in new.get("Tags") or []}
    gone = [{"Key": tag["Key"]} for tag in old.get("Tags") or [] if tag["Key"] not in kept]
    if gone:
        call(cloudtrail._remove_tags, {"ResourceId": arn, "TagsList": gone}, f"{TRAIL} tags")
    if new.get("Tags"):
        call(cloudtrail._add_tags, {"ResourceId": arn, "TagsList": new["Tags"]}, f"{TRAIL} tags")
    return name, _trail_attributes(name, new)


def _trail_create(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
    name = props.get("TrailName") or provisioners._physical_name(stack_name, logical_id)
    call(cloudtrail._create_trail, {"Name": name, **_trail_settings(props)}, f"{TRAIL} create")
    try:
        return _trail_apply(name, {}, props)
    except ValueError:
        _trail_delete(name, props)  # a create that fails leaves nothing behind
        raise


def _trail_update(physical_id: str, old: dict, new: dict, stack_name: str) -> tuple[str, dict]:
    return _trail_apply(physical_id, old, new)  # TrailName changes replace (see register)


def _trail_delete(physical_id: str, props: dict) -> None:
    cloudtrail._delete_trail({"Name": physical_id})  # gone already is fine
    cloudtrail._trail_tags.pop(cloudtrail._trail_arn(physical_id), None)


HANDLERS: dict[str, Handler] = {
    BUDGET: {
        "create": _budget_create,
        "update": _budget_update,
        "update_with_logical_id": True,
        "delete": _budget_delete,
    },
    TRAIL: {"create": _trail_create, "update": _trail_update, "delete": _trail_delete},
}
#: Create-only properties whose change makes MiniStack's engine replace the resource.
REPLACING_PROPERTIES: dict[str, tuple[str, ...]] = {TRAIL: ("TrailName",)}
