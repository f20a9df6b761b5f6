"""The ingestion layer deployed with the layers it builds on (the "together" scenario): its
device rules and policy, the export state machine, its schedule and watermark, read back
from the emulator. The emulator stores IoT rules but runs only some action types (not
Kinesis or S3), so the device data path is tested at synth time, through the real
transform (tests/constructs/ingestion); Batch, DMS and DataSync are refused (see
test_deploy_alone)."""

from __future__ import annotations

import json

from tests.deploy.scenarios import Scenario


def test_the_device_rules_and_policy_are_in_place(together: Scenario) -> None:
    ingestion = together.result("ingestion")
    rules = ingestion["rules"]
    assert set(rules) == {"mlbp_dev_devices", "mlbp_dev_devices_mismatch"}
    main = rules["mlbp_dev_devices"]
    assert main["awsIotSqlVersion"] == "2016-03-23"
    assert " FROM 'devices/+/telemetry' " in main["sql"]
    [action] = main["actions"]
    assert action["kinesis"]["partitionKey"] == "${topic(2)}"
    stream = together.result("described")["real_time"]["StreamName"]
    assert action["kinesis"]["streamName"] == stream  # the real-time layer's deployed stream
    raw = together.result("described")["lake"]["RawBucketName"]
    assert main["errorAction"]["s3"]["bucketName"] == raw
    assert main["errorAction"]["s3"]["key"].startswith("errors/devices/rule-action-failed/")
    document = json.loads(ingestion["policy"]["policyDocument"])
    publish = document["Statement"][1]
    assert publish["Action"] == "iot:Publish"
    assert publish["Resource"].endswith(
        ":topic/devices/${iot:Connection.Thing.ThingName}/telemetry"
    )


def test_the_export_runs_daily_and_starts_from_a_full_export(together: Scenario) -> None:
    ingestion = together.result("ingestion")
    machine = ingestion["machine"]
    assert machine["status"] == "ACTIVE"
    states = json.loads(machine["definition"])["States"]
    assert states["StartFullExport"]["Resource"].endswith(
        ":aws-sdk:dynamodb:exportTableToPointInTime"
    )
    [schedule] = [
        s
        for s in ingestion["schedules"].values()
        if s["Target"]["Arn"] == machine["stateMachineArn"]
    ]
    assert schedule["ScheduleExpression"] == "rate(1 day)"
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 185
    [watermark] = [p for p in ingestion["parameters"] if "Watermark" in p["Name"]]
    assert watermark["Type"] == "String"
