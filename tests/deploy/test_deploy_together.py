"""Every default layer deployed together in sandbox mode to a fresh MiniStack with the pinned
CDK CLI: what CloudFormation created, the data path through the real transform, the smoke
command, an unchanged redeploy, a changed prop, and destroy.

Asserted only where the emulator really models the behaviour (see the README's "Try it
without an AWS account"); the synth-time tests cover the rest.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ml_blueprints.smoke import EMULATOR_GAPS
from tests.deploy.scenarios import CHANGED_BUDGET_USD, CHANGED_RETENTION_DAYS, LAYERS, Scenario

STACKS = set(LAYERS.values())
ZONES = ("raw", "curated", "analytics")
PARTITIONED = re.compile(r"^events/year=\d{4}/month=\d{2}/day=\d{2}/hour=\d{2}/[^/]+$")
STAGING_BUCKET = "cdk-hnb659fds-assets-000000000000-us-east-1"


def _described(together: Scenario) -> dict[str, Any]:
    return together.result("described")


def test_every_default_layer_is_created_complete(together: Scenario) -> None:
    stacks = together.result("stacks")
    assert set(stacks) == {*STACKS, "CDKToolkit"}
    assert {name: s["status"] for name, s in stacks.items()} == dict.fromkeys(
        {*STACKS, "CDKToolkit"}, "CREATE_COMPLETE"
    )
    for name, resources in together.result("resources").items():
        assert resources, name
        incomplete = {
            k: r["status"] for k, r in resources.items() if r["status"] != "CREATE_COMPLETE"
        }
        assert incomplete == {}, name


def test_each_zone_bucket_policy_is_in_place_with_the_deployed_endpoint(
    together: Scenario,
) -> None:
    described = _described(together)
    lake = described["lake"]
    for zone in ZONES:
        statements = described["bucket_policies"][zone]["Statement"]
        sids = {s.get("Sid") for s in statements} - {None}
        assert sids == {
            "DenyEncryptionOtherThanKms",
            "DenyKmsKeyOtherThanLakeKey",
            "DenyCustomerProvidedKeys",
            "DenyObjectAccessOutsideVpcEndpoint",
        }, zone
        by_sid = {s.get("Sid"): s for s in statements}
        key_condition = by_sid["DenyKmsKeyOtherThanLakeKey"]["Condition"]["StringNotEquals"]
        assert key_condition["s3:x-amz-server-side-encryption-aws-kms-key-id"] == lake["LakeKeyArn"]
        endpoint = json.dumps(by_sid["DenyObjectAccessOutsideVpcEndpoint"]["Condition"])
        assert f'"{lake["S3EndpointId"]}"' in endpoint  # the reference resolved on deploy
        insecure = [s for s in statements if "aws:SecureTransport" in json.dumps(s)]
        assert len(insecure) == 1 and insecure[0]["Effect"] == "Deny", zone


def test_the_stream_is_encrypted_with_the_lake_key(together: Scenario) -> None:
    described = _described(together)
    stream = described["stream"]
    assert stream["StreamStatus"] == "ACTIVE"
    assert stream["EncryptionType"] == "KMS"
    assert stream["KeyId"] == described["lake"]["LakeKeyArn"]
    # sandbox mode: one provisioned shard (stream_shards), not an on-demand stream
    assert stream["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
    assert stream["OpenShardCount"] == 1
    assert stream["RetentionPeriodHours"] == 24


def test_the_delivery_stream_reads_the_stream_and_writes_the_raw_zone(
    together: Scenario,
) -> None:
    described = _described(together)
    delivery = described["delivery_stream"]
    raw_bucket = described["lake"]["RawBucketName"]
    assert delivery["DeliveryStreamStatus"] == "ACTIVE"
    assert delivery["DeliveryStreamType"] == "KinesisStreamAsSource"
    source = delivery["Source"]["KinesisStreamSourceDescription"]
    assert source["KinesisStreamARN"].endswith(f":stream/{described['real_time']['StreamName']}")
    (destination,) = delivery["Destinations"]
    s3 = destination["ExtendedS3DestinationDescription"]
    assert s3["BucketARN"] == f"arn:aws:s3:::{raw_bucket}"
    assert s3["Prefix"] == (
        "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
        "hour=!{timestamp:HH}/"
    )
    assert s3["ErrorOutputPrefix"].startswith("errors/events/!{firehose:error-output-type}/")
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 64}
    assert (
        s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
        == (described["lake"]["LakeKeyArn"])
    )
    assert s3["RoleARN"].split("/")[-1].startswith("mlbp-dev-svc-firehose-events")
    (processor,) = s3["ProcessingConfiguration"]["Processors"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert processor["Type"] == "Lambda"
    assert ":function:" in parameters["LambdaArn"]
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True


def test_the_state_machines_are_active_with_their_workflows(together: Scenario) -> None:
    described = _described(together)
    machines = described["state_machines"]
    etl = machines[described["analytics"]["StateMachineArn"]]
    training = machines[described["ml"]["TrainingStateMachineArn"]]
    for machine in (etl, training):
        assert machine["status"] == "ACTIVE"
        assert machine["type"] == "STANDARD"
        assert machine["roleArn"].startswith("arn:aws:iam::000000000000:role/")
    etl_states = json.loads(etl["definition"])["States"]
    assert any(
        s.get("Resource", "").endswith(":glue:startJobRun.sync") for s in etl_states.values()
    )
    training_states = json.loads(training["definition"])["States"]
    assert any(
        s.get("Resource", "").endswith(":sagemaker:createTrainingJob.sync")
        for s in training_states.values()
    )


def test_the_alarms_notify_the_alert_topic(together: Scenario) -> None:
    alarms = [
        a for a in _described(together)["alarms"] if a["AlarmName"].startswith("mlbp-dev-real-time")
    ]
    assert {a["MetricName"] for a in alarms} == {
        "GetRecords.IteratorAgeMilliseconds",
        "WriteProvisionedThroughputExceeded",
        "DeliveryToS3.DataFreshness",
        "DeliveryToS3.Success",
        "Errors",
        "FailedRecords",
    }
    topics = {tuple(a["AlarmActions"]) for a in alarms}
    assert len(topics) == 1 and len(next(iter(topics))) == 1
    assert next(iter(topics))[0].startswith("arn:aws:sns:us-east-1:000000000000:")
    assert all(a["TreatMissingData"] == "notBreaching" for a in alarms)


def test_the_catalog_security_configuration_and_named_queries_exist(together: Scenario) -> None:
    described = _described(together)
    database = described["analytics"]["DatabaseName"]
    assert described["glue_tables"]["mlbp_dev_streaming"] == ["events"]
    (configuration,) = described["security_configurations"]
    encryption = configuration["EncryptionConfiguration"]
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    crawlers = {c["Name"]: c for c in described["crawlers"]}
    assert set(crawlers) == {"mlbp-dev-lake-raw-events", "mlbp-dev-lake-curated-events"}
    for crawler in crawlers.values():
        assert crawler["DatabaseName"] == database
        assert crawler["CrawlerSecurityConfiguration"] == configuration["Name"]
    queries = described["named_queries"]
    assert len(queries) == 3
    assert {q["Database"] for q in queries} == {database}
    assert {q["WorkGroup"] for q in queries} == {described["analytics"]["WorkGroupName"]}
    workgroup = described["workgroup"]["Configuration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["BytesScannedCutoffPerQuery"] == 10 * 1024**3


def test_the_network_has_its_flow_log_endpoints_and_a_closed_default_group(
    together: Scenario,
) -> None:
    described = _described(together)
    (flow_log,) = described["flow_logs"]
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    assert {
        (e["ServiceName"].rsplit(".", 1)[-1], e["VpcEndpointType"])
        for e in described["vpc_endpoints"]
    } == {("s3", "Gateway"), ("dynamodb", "Gateway")}
    # CDK's Node.js handler (with @aws-sdk/client-ec2 from node_modules) revoked the rules
    (default_group,) = described["default_security_groups"]
    assert default_group["IpPermissions"] == []
    assert default_group["IpPermissionsEgress"] == []


def _key_arn(together: Scenario, stack_id: str) -> str:
    """The ARN of the one customer-managed key a stack creates."""
    (key,) = [
        r["physical_id"]
        for r in together.result("resources")[LAYERS[stack_id]].values()
        if r["type"] == "AWS::KMS::Key"
    ]
    return f"arn:aws:kms:us-east-1:000000000000:key/{key}"


def test_the_budget_notifies_its_encrypted_topic(together: Scenario) -> None:
    governance = _described(together)["governance"]
    budget = governance["budget"]
    assert budget["BudgetName"] == governance["outputs"]["BudgetName"] == "mlbp-dev-monthly"
    assert (budget["BudgetType"], budget["TimeUnit"]) == ("COST", "MONTHLY")
    assert budget["BudgetLimit"] == {"Amount": "50.0", "Unit": "USD"}
    assert budget["FilterExpression"] == {
        "And": [
            {"Tags": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}}
            for key, value in (("environment", "dev"), ("project", "ml-blueprints"))
        ]
    }
    topic = governance["outputs"]["AlertTopicArn"]
    notifications = {
        (
            n["notification"]["NotificationType"],
            n["notification"]["ComparisonOperator"],
            n["notification"]["Threshold"],
            n["notification"]["ThresholdType"],
        ): n["subscribers"]
        for n in governance["notifications"]
    }
    thresholds = {("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)}
    assert notifications == {
        (kind, "GREATER_THAN", threshold, "PERCENTAGE"): [
            {"SubscriptionType": "SNS", "Address": topic}
        ]
        for kind, threshold in thresholds
    }
    assert {t["Key"]: t["Value"] for t in governance["budget_tags"]} == {
        "environment": "dev",
        "project": "ml-blueprints",
    }
    # the topic is encrypted with the governance key; only AWS Budgets of this account and
    # only over TLS may publish
    assert governance["topic"]["KmsMasterKeyId"] == _key_arn(together, "Governance")
    statements = json.loads(governance["topic"]["Policy"])["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert (allow["Action"], allow["Resource"]) == ("sns:Publish", topic)
    assert allow["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "000000000000"},
        "ArnLike": {"aws:SourceArn": "arn:aws:budgets::000000000000:*"},
    }
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_trail_records_the_zone_buckets_data_events_encrypted(together: Scenario) -> None:
    described = _described(together)
    governance, lake = described["governance"], described["lake"]
    outputs, trail = governance["outputs"], governance["trail"]
    key = _key_arn(together, "Governance")
    assert trail["TrailARN"] == outputs["TrailArn"]
    assert trail["Name"] == "mlbp-dev-audit"
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert trail["LogFileValidationEnabled"] is True
    assert trail["KmsKeyId"] == key
    assert trail["S3BucketName"] == outputs["TrailBucketName"]
    assert governance["trail_status"]["IsLogging"] is True
    # CloudWatch Logs delivery: the stack's encrypted log group, through its own role
    (log_group,) = governance["log_groups"]
    assert log_group["logGroupName"] == outputs["TrailLogGroupName"]
    assert trail["CloudWatchLogsLogGroupArn"] == log_group["arn"]
    assert (log_group["kmsKeyId"], log_group["retentionInDays"]) == (key, 365)
    roles = [
        r["physical_id"]
        for logical_id, r in together.result("resources")[LAYERS["Governance"]].items()
        if r["type"] == "AWS::IAM::Role" and logical_id.startswith("TrailLogsRole")
    ]
    assert trail["CloudWatchLogsRoleArn"] == f"arn:aws:iam::000000000000:role/{roles[0]}"
    # management events and the S3 data events of exactly the three zone buckets
    (selector,) = governance["event_selectors"]
    assert selector["ReadWriteType"] == "All"
    assert selector["IncludeManagementEvents"] is True
    (data,) = selector["DataResources"]
    assert data["Type"] == "AWS::S3::Object"
    assert sorted(data["Values"]) == sorted(
        f"arn:aws:s3:::{lake[f'{zone.capitalize()}BucketName']}/" for zone in ZONES
    )
    assert {t["Key"]: t["Value"] for t in governance["trail_tags"]} == {
        "environment": "dev",
        "project": "ml-blueprints",
    }
    # only CloudTrail writing for this trail may put objects in its bucket
    by_sid = {s.get("Sid"): s for s in governance["bucket_policy"]["Statement"]}
    write = by_sid["AWSCloudTrailWrite"]
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert write["Resource"] == (
        f"arn:aws:s3:::{outputs['TrailBucketName']}/AWSLogs/000000000000/*"
    )
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == outputs["TrailArn"]


def test_the_results_table_has_its_key_recovery_ttl_and_no_protection_in_sandbox(
    together: Scenario,
) -> None:
    serving = _described(together)["serving"]
    table = serving["table"]
    assert table["TableName"] == serving["outputs"]["ResultsTableName"]
    assert table["TableArn"] == serving["outputs"]["ResultsTableArn"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "job_name", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-pipeline"
    assert index["KeySchema"] == [
        {"AttributeName": "pipeline", "KeyType": "HASH"},
        {"AttributeName": "started_at", "KeyType": "RANGE"},
    ]
    assert table["SSEDescription"] == {
        "Status": "ENABLED",
        "SSEType": "KMS",
        "KMSMasterKeyArn": _key_arn(together, "Serving"),
    }
    assert table["DeletionProtectionEnabled"] is False  # sandbox mode: destroy deletes it
    assert serving["ttl"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    recovery = serving["backups"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    assert {t["Key"]: t["Value"] for t in serving["tags"]} == {
        "environment": "dev",
        "project": "ml-blueprints",
    }


def test_events_come_back_normalized_by_the_real_transform_under_the_partitioned_prefix(
    together: Scenario,
) -> None:
    data_path = together.result("data_path")
    assert data_path["failed_puts"] == 0
    objects = data_path["objects"]
    assert len(objects) == 2  # the emulator's Firehose writes one object per record
    assert all(PARTITIONED.match(key) for key in objects), sorted(objects)
    records = {}
    for body in objects.values():
        for line in body.splitlines():
            record = json.loads(line)
            records[record["event_id"]] = record
    assert records["dp-1"]["event_type"] == "page_view"
    assert records["dp-1"]["event_time"] == "2026-11-25T09:00:00.000Z"  # UTC, milliseconds
    assert records["dp-2"]["event_type"] == "click"
    assert records["dp-2"]["x"] == 1
    assert all(r["ingested_at"].endswith("Z") for r in records.values())
    # the malformed record was rejected by the transform: nothing of it under the prefix
    assert not any(b"dp-bad" in body for body in objects.values())
    assert [k for k in data_path["all_keys"] if k.startswith("events/")] == sorted(objects)


def test_the_smoke_command_passes_its_stream_stages_and_skips_what_it_cannot_run(
    together: Scenario,
) -> None:
    smoke = together.result("smoke")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    rows = {}
    for line in smoke.stdout.splitlines()[1:]:
        stage, status = re.split(r"\s{2,}", line.strip())[:2]
        rows[stage] = (status, line)
    for stage in ("credentials", "stack outputs", "write", "delivery", "clean-up"):
        assert rows[stage][0] == "pass", rows[stage][1]
    assert "16 of 16 good records under s3://" in rows["delivery"][1]
    for stage, reason in EMULATOR_GAPS.items():
        assert rows[stage][0] == "skip"
        assert rows[stage][1].endswith(reason)
    assert "removed 16 objects it wrote" in rows["clean-up"][1]


def test_a_second_deploy_without_changes_changes_nothing(together: Scenario) -> None:
    output = together.result("redeploy").output
    for name in STACKS:
        assert re.search(rf"\({re.escape(name)}\)\s*\(no changes\)", output), name
    before, after = together.result("stacks"), together.result("after_redeploy")
    assert after == before
    events = together.result("redeploy_events")
    assert {name: b for name, (b, _) in events.items()} == {
        name: a for name, (_, a) in events.items()
    }
    assert together.result("redeploy_resources") == together.result("resources")


def _template(together: Scenario, assembly: str, stack_id: str) -> dict[str, Any]:
    return json.loads((together.assemblies / assembly / f"{stack_id}.template.json").read_text())


def test_a_changed_prop_updates_every_stack_in_place(together: Scenario) -> None:
    # -c log_retention_days=30 -c budget_usd=75: every stack with a log group changes; the
    # serving layer has none and is left alone
    changed = {
        name
        for stack_id, name in LAYERS.items()
        if _template(together, "sandbox", stack_id) != _template(together, "changed", stack_id)
    }
    assert STACKS - changed == {LAYERS["Serving"]}
    before, after = together.result("after_redeploy"), together.result("after_update")
    assert {name: after[name]["status"] for name in changed} == dict.fromkeys(
        changed, "UPDATE_COMPLETE"
    )
    assert {name: after[name] for name in STACKS - changed} == {
        name: before[name] for name in STACKS - changed
    }
    update = together.result("update").output
    assert re.search(rf"\({LAYERS['Serving']}\)\s*\(no changes\)", update)
    created = together.result("resources")
    updated = together.result("updated_resources")
    for name in STACKS:
        assert set(updated[name]) == set(created[name]), name
        replaced = {
            logical_id
            for logical_id, resource in updated[name].items()
            if resource["physical_id"] != created[name][logical_id]["physical_id"]
        }
        assert replaced == set(), name  # in place: nothing was replaced
    retention = together.result("retention_after_update")
    ours = {g: days for g, days in retention.items() if "mlbp-dev-" in g}
    assert len(ours) >= 6
    assert set(ours.values()) == {CHANGED_RETENTION_DAYS}


def test_a_changed_budget_is_updated_in_place_with_its_notifications(together: Scenario) -> None:
    before = _described(together)["governance"]
    after = together.result("governance_after_update")
    assert after["budget"]["BudgetName"] == before["budget"]["BudgetName"]
    assert after["budget"]["BudgetLimit"] == {"Amount": f"{CHANGED_BUDGET_USD:.1f}", "Unit": "USD"}
    assert after["budget"]["FilterExpression"] == before["budget"]["FilterExpression"]
    assert after["notifications"] == before["notifications"]
    assert after["budget_tags"] == before["budget_tags"]
    assert after["trail"] == before["trail"] and after["trail_status"]["IsLogging"] is True


def test_destroy_in_sandbox_mode_leaves_nothing(together: Scenario) -> None:
    before = together.result("before_destroy")
    after = together.result("after_destroy")
    described = _described(together)
    assert set(together.result("stacks_after_destroy")) == {"CDKToolkit"}
    lake, governance = described["lake"], described["governance"]["outputs"]
    buckets = {lake[f"{zone.capitalize()}BucketName"] for zone in ZONES} | {
        lake["AccessLogsBucketName"],
        governance["TrailBucketName"],
    }
    assert buckets < set(before["buckets"]) and before["streams"] and before["log_groups"]
    assert before["tables"] and before["trails"] and before["budgets"]
    assert after["buckets"] == [STAGING_BUCKET]  # only the bootstrap's
    assert after["streams"] == []
    assert after["delivery_streams"] == []
    assert after["log_groups"] == []
    assert after["functions"] == []
    assert after["state_machines"] == []
    assert after["vpcs"] == []
    assert after["tables"] == []
    assert after["trails"] == []
    assert after["budgets"] == []
    # the ingestion layer's devices, schedule and watermark go with it
    assert len(before["topic_rules"]) == 2 and before["iot_policies"] and before["schedules"]
    assert after["topic_rules"] == after["iot_policies"] == after["schedules"] == []
    ours = [p for p in before["parameters"] if p.startswith("/mlbp-dev-ingestion/")]
    assert len(ours) == 1 and ours[0] not in after["parameters"]  # the export's watermark
    assert not set(after["glue_databases"]) & set(before["glue_databases"])
    # KMS keys cannot be deleted at once: every one is scheduled for deletion
    assert after["keys"] and set(after["keys"].values()) == {"PendingDeletion"}
