"""What the deploy scenarios read back from an emulator: stacks and their resources, what
exists in the account, and per layer the settings that matter, through the services' own
describe calls (the tests assert on these records)."""

from __future__ import annotations

import json
from typing import Any

from emulator.harness import ACCOUNT, Emulator


def stacks(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Every stack that is not deleted, by name: status and update time."""
    answer = emulator.client("cloudformation").describe_stacks()["Stacks"]
    return {
        s["StackName"]: {
            "status": s["StackStatus"],
            "updated": str(s.get("LastUpdatedTime", "")),
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])},
        }
        for s in answer
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def resources(emulator: Emulator, stack_name: str) -> dict[str, dict[str, str]]:
    """A stack's resources: logical id -> type, physical id and status."""
    cloudformation = emulator.client("cloudformation")
    found: dict[str, dict[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for r in page["StackResourceSummaries"]:
            found[r["LogicalResourceId"]] = {
                "type": r["ResourceType"],
                "physical_id": r.get("PhysicalResourceId", ""),
                "status": r["ResourceStatus"],
            }
    return found


def event_count(emulator: Emulator, stack_name: str) -> int:
    events = emulator.client("cloudformation").describe_stack_events(StackName=stack_name)
    return len(events["StackEvents"])


def cloudformation_seconds(emulator: Emulator, stack_name: str) -> float:
    """From the stack's first event to its last: CloudFormation's side of a deploy."""
    events = emulator.client("cloudformation").describe_stack_events(StackName=stack_name)
    times = [e["Timestamp"] for e in events["StackEvents"]]
    return (max(times) - min(times)).total_seconds() if times else 0.0


def account_inventory(emulator: Emulator) -> dict[str, Any]:
    """What exists in the account, by kind: what "destroy leaves nothing" is checked on."""
    s3 = emulator.client("s3")
    kms = emulator.client("kms")
    keys = {}
    for key in kms.list_keys()["Keys"]:
        metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if metadata.get("KeyManager") == "CUSTOMER":
            keys[metadata["Arn"]] = metadata["KeyState"]
    return {
        "buckets": sorted(b["Name"] for b in s3.list_buckets().get("Buckets", [])),
        "streams": sorted(emulator.client("kinesis").list_streams()["StreamNames"]),
        "delivery_streams": sorted(
            emulator.client("firehose").list_delivery_streams()["DeliveryStreamNames"]
        ),
        "log_groups": sorted(
            g["logGroupName"]
            for g in emulator.client("logs").describe_log_groups().get("logGroups", [])
        ),
        "functions": sorted(
            f["FunctionName"]
            for f in emulator.client("lambda").list_functions().get("Functions", [])
        ),
        "state_machines": sorted(
            m["name"]
            for m in emulator.client("stepfunctions").list_state_machines()["stateMachines"]
        ),
        "glue_databases": sorted(
            d["Name"] for d in emulator.client("glue").get_databases()["DatabaseList"]
        ),
        "keys": keys,
        "vpcs": sorted(
            v["VpcId"]
            for v in emulator.client("ec2").describe_vpcs()["Vpcs"]
            if not v.get("IsDefault")
        ),
        "topic_rules": sorted(
            r["ruleName"] for r in emulator.client("iot").list_topic_rules().get("rules", [])
        ),
        "iot_policies": sorted(
            p["policyName"] for p in emulator.client("iot").list_policies().get("policies", [])
        ),
        "schedules": sorted(
            s["Name"] for s in emulator.client("scheduler").list_schedules().get("Schedules", [])
        ),
        "parameters": sorted(
            p["Name"] for p in emulator.client("ssm").describe_parameters().get("Parameters", [])
        ),
        "tables": sorted(emulator.client("dynamodb").list_tables()["TableNames"]),
        "trails": sorted(t["Name"] for t in emulator.client("cloudtrail").list_trails()["Trails"]),
        "budgets": sorted(
            b["BudgetName"]
            for b in emulator.client("budgets")
            .describe_budgets(AccountId=ACCOUNT)
            .get("Budgets", [])
        ),
    }


# ------------------------------------------------------------------------------ layers


def describe_governance(emulator: Emulator, stack_name: str) -> dict[str, Any]:
    """The budget (amount, filter, notifications and their subscribers, tags), its topic's
    attributes, the trail (settings, status, event selectors, tags), its log group and the
    trail bucket's policy."""
    outputs = emulator.outputs(stack_name)
    budgets = emulator.client("budgets")
    budget = {"AccountId": ACCOUNT, "BudgetName": outputs["BudgetName"]}
    notifications = budgets.describe_notifications_for_budget(**budget)["Notifications"]
    cloudtrail = emulator.client("cloudtrail")
    trail = outputs["TrailArn"]
    return {
        "outputs": outputs,
        "budget": budgets.describe_budget(**budget, ShowFilterExpression=True)["Budget"],
        "budget_tags": budgets.list_tags_for_resource(
            ResourceARN=f"arn:aws:budgets::{ACCOUNT}:budget/{outputs['BudgetName']}"
        )["ResourceTags"],
        "notifications": [
            {
                "notification": notification,
                "subscribers": budgets.describe_subscribers_for_notification(
                    **budget, Notification=notification
                )["Subscribers"],
            }
            for notification in notifications
        ],
        "topic": emulator.client("sns").get_topic_attributes(TopicArn=outputs["AlertTopicArn"])[
            "Attributes"
        ],
        "trail": cloudtrail.get_trail(Name=trail)["Trail"],
        "trail_status": cloudtrail.get_trail_status(Name=trail),
        "event_selectors": cloudtrail.get_event_selectors(TrailName=trail)["EventSelectors"],
        "trail_tags": cloudtrail.list_tags(ResourceIdList=[trail])["ResourceTagList"][0][
            "TagsList"
        ],
        "log_groups": emulator.client("logs").describe_log_groups(
            logGroupNamePrefix=outputs["TrailLogGroupName"]
        )["logGroups"],
        "bucket_policy": json.loads(
            emulator.client("s3").get_bucket_policy(Bucket=outputs["TrailBucketName"])["Policy"]
        ),
    }


def describe_serving(emulator: Emulator, stack_name: str) -> dict[str, Any]:
    """The results table: its description (key, deletion protection), TTL, point-in-time
    recovery and tags."""
    outputs = emulator.outputs(stack_name)
    dynamodb = emulator.client("dynamodb")
    name = outputs["ResultsTableName"]
    table = dynamodb.describe_table(TableName=name)["Table"]
    return {
        "outputs": outputs,
        "table": table,
        "ttl": dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
        "backups": dynamodb.describe_continuous_backups(TableName=name)[
            "ContinuousBackupsDescription"
        ],
        "tags": dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"],
    }
