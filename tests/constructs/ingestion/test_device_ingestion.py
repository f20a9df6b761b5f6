"""DeviceIngestion: the topic rule read from the synthesized template and evaluated on
messages shaped as devices send them, then delivered through the real Firehose transform;
the mismatch rule, the error action, the device policy and the role, exactly."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ml_blueprints.constructs.ingestion.device_ingestion import SQL_VERSION, THING_NAME
from ml_blueprints.runtime import firehose_transform
from ml_blueprints.runtime.firehose_transform import OK, PROCESSING_FAILED
from tests.conftest import Synthesized
from tests.constructs.ingestion.helpers import by_sid, one, role_statements, text
from tests.iot_sql import evaluate

NOW_MS = 1_764_000_000_000  # 2025-11-24T16:00:00Z
UUID = "6f1c2a52-9d34-4f0e-9a51-2d0f5d1e8a77"


def _rules(synth: Synthesized, stack: str = "Ingestion") -> dict[str, dict[str, Any]]:
    return {
        rule["Properties"]["RuleName"]: rule["Properties"]["TopicRulePayload"]
        for rule in synth.resources(stack, "AWS::IoT::TopicRule").values()
    }


@pytest.fixture(scope="module")
def rules(project: Synthesized) -> dict[str, dict[str, Any]]:
    return _rules(project)


def _through(sql: str, topic: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    return evaluate(sql, topic, payload, now_ms=NOW_MS, uuid=UUID)


def _transform(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as Firehose hands the Kinesis action's puts to the transform."""
    event = {
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:000000000000:deliverystream/events",
        "region": "us-east-1",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/events",
        "records": [
            {
                "recordId": f"r{i}",
                "approximateArrivalTimestamp": NOW_MS + 1000,
                "data": base64.b64encode(json.dumps(message).encode()).decode(),
                "kinesisRecordMetadata": {"partitionKey": message.get("device_id", "")},
            }
            for i, message in enumerate(messages)
        ],
    }
    return firehose_transform.handler(event, None)["records"]


def test_the_rule_selects_the_topics_devices_publish_to_into_the_stream(
    rules: dict[str, dict[str, Any]],
) -> None:
    main = rules["mlbp_dev_devices"]
    assert main["AwsIotSqlVersion"] == SQL_VERSION
    assert main["RuleDisabled"] is False
    assert main["Sql"].startswith("SELECT *, topic(2) AS device_id, ")
    assert " FROM 'devices/+/telemetry' " in main["Sql"]
    [action] = main["Actions"]
    kinesis = action["Kinesis"]
    assert kinesis["PartitionKey"] == "${topic(2)}"  # one device's messages stay in order
    assert "IngestionStream" in text(kinesis["StreamName"])  # the real-time layer's stream
    errors = main["ErrorAction"]["S3"]
    assert errors["Key"].startswith('errors/devices/rule-action-failed/year=${parse_time("yyyy"')
    assert errors["Key"].endswith("/${newuuid()}.json")
    assert "RawBucket" in text(errors["BucketName"])
    mismatch = rules["mlbp_dev_devices_mismatch"]
    assert mismatch["AwsIotSqlVersion"] == SQL_VERSION
    [kept] = mismatch["Actions"]
    assert kept["S3"]["Key"].startswith("errors/devices/device-id-mismatch/year=")
    assert mismatch["ErrorAction"] == main["ErrorAction"]


#: What devices publish: plain readings, their own times (ISO with an offset, epoch
#: milliseconds), their own ids and types, their own (matching) device id, nested values.
DEVICE_MESSAGES: list[dict[str, Any]] = [
    {"temperature": 21.5, "humidity": 40},
    {"temperature": 21.5, "event_time": "2026-11-24T10:00:00+01:00"},
    {"rpm": 1200, "event_time": 1_764_000_000_123},
    {"rpm": 1200, "event_id": "m-42", "event_type": "Vibration"},
    {"device_id": "pump-7", "reading": {"v": 3.2, "unit": "bar"}, "tags": ["a", "b"]},
    {},
]


@pytest.mark.parametrize("payload", DEVICE_MESSAGES)
def test_what_devices_send_passes_the_real_transform(
    rules: dict[str, dict[str, Any]], payload: dict[str, Any]
) -> None:
    sql = rules["mlbp_dev_devices"]["Sql"]
    shaped = _through(sql, "devices/pump-7/telemetry", payload)
    assert shaped is not None
    [answer] = _transform([shaped])
    assert answer["result"] == OK, answer
    delivered = json.loads(base64.b64decode(answer["data"]))
    assert delivered["device_id"] == "pump-7"  # from the topic
    assert delivered["event_id"] == payload.get("event_id", UUID)
    assert delivered["event_type"] == str(payload.get("event_type", "device_telemetry")).lower()
    expected_time = {
        None: "2025-11-24T16:00:00.000Z",  # the broker's receive time
        "2026-11-24T10:00:00+01:00": "2026-11-24T09:00:00.000Z",
        1_764_000_000_123: "2025-11-24T16:00:00.123Z",
    }[payload.get("event_time")]
    assert delivered["event_time"] == expected_time
    for field, value in payload.items():
        if field not in ("event_id", "event_type", "event_time"):
            assert delivered[field] == value
    assert delivered["ingested_at"] == "2025-11-24T16:00:01.000Z"


@pytest.mark.parametrize("payload", DEVICE_MESSAGES)
def test_the_output_does_not_depend_on_which_duplicate_key_iot_keeps(
    rules: dict[str, dict[str, Any]], payload: dict[str, Any]
) -> None:
    # The rule adds event_id, event_type, event_time and device_id beside the payload's
    # fields: each is the payload's own value when present, so "later wins" and "payload
    # wins" give the same message.
    sql = rules["mlbp_dev_devices"]["Sql"]
    later_wins = _through(sql, "devices/pump-7/telemetry", payload)
    assert later_wins is not None
    payload_wins = {**later_wins, **payload}
    assert payload_wins == later_wins


def test_a_device_cannot_claim_another_devices_id(rules: dict[str, dict[str, Any]]) -> None:
    main, mismatch = rules["mlbp_dev_devices"], rules["mlbp_dev_devices_mismatch"]
    spoofed = {"device_id": "pump-8", "temperature": 99}
    assert _through(main["Sql"], "devices/pump-7/telemetry", spoofed) is None
    kept = _through(mismatch["Sql"], "devices/pump-7/telemetry", spoofed)
    assert kept == {
        "device_id": "pump-8",
        "temperature": 99,
        "topic_device_id": "pump-7",
        "error": "device_id_mismatch",
    }
    # Every message goes to exactly one of the two rules: nothing is dropped by a WHERE.
    for payload in [spoofed, *DEVICE_MESSAGES]:
        routed = [
            _through(rule["Sql"], "devices/pump-7/telemetry", payload) is not None
            for rule in (main, mismatch)
        ]
        assert routed.count(True) == 1, payload


def test_other_topics_are_not_taken(rules: dict[str, dict[str, Any]]) -> None:
    sql = rules["mlbp_dev_devices"]["Sql"]
    for topic in ("devices/pump-7/status", "devices/pump-7/telemetry/x", "other/pump-7/telemetry"):
        assert _through(sql, topic, {"t": 1}) is None


def test_a_bad_event_time_from_a_device_lands_under_the_error_prefix_not_the_lake(
    rules: dict[str, dict[str, Any]],
) -> None:
    shaped = _through(
        rules["mlbp_dev_devices"]["Sql"], "devices/pump-7/telemetry", {"event_time": "yesterday"}
    )
    [answer] = _transform([shaped])  # type: ignore[list-item]
    assert answer["result"] == PROCESSING_FAILED  # Firehose keeps it under errors/events/


def test_the_variant_reads_the_device_from_a_deeper_topic(
    construct_variants: Synthesized,
) -> None:
    rules = _rules(construct_variants, "IngestionVariants")
    sql = rules["team_sensors"]["Sql"]
    assert " FROM 'fleet/sensors/+/data' " in sql
    shaped = _through(sql, "fleet/sensors/s-1/data", {"lux": 300})
    assert shaped is not None and shaped["device_id"] == "s-1"
    assert shaped["event_type"] == "sensor.reading"
    [answer] = _transform([shaped])
    assert answer["result"] == OK
    [action] = rules["team_sensors"]["Actions"]
    assert action["Kinesis"]["PartitionKey"] == "${topic(3)}"
    assert rules["team_sensors"]["ErrorAction"]["S3"]["Key"].startswith(
        "errors/sensors/rule-action-failed/"
    )


def test_the_device_policy_lets_a_thing_connect_as_itself_and_publish_to_its_topic_only(
    project: Synthesized,
) -> None:
    _, policy = one(project, "Ingestion", "AWS::IoT::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == [
        "ConnectOnlyAsItsOwnThing",
        "PublishOnlyToItsOwnTopic",
    ]
    connect, publish = statements
    assert connect["Action"] == "iot:Connect" and connect["Effect"] == "Allow"
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert text(connect["Resource"]).endswith(f':client/{THING_NAME}"]]}}')
    assert publish["Action"] == "iot:Publish" and publish["Effect"] == "Allow"
    assert text(publish["Resource"]).endswith(f':topic/devices/{THING_NAME}/telemetry"]]}}')
    assert "*" not in text(statements)


def test_the_rules_role_puts_on_the_stream_and_keeps_failures_nothing_else(
    project: Synthesized,
) -> None:
    _, role = one(project, "Ingestion", "AWS::IAM::Role", "DevicesRole")
    assert role["Properties"]["RoleName"] == "mlbp-dev-svc-iot-devices"  # exempt by name
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
    rule_arns = text(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":rule/mlbp_dev_devices" in rule_arns and ":rule/mlbp_dev_devices_mismatch" in rule_arns
    statements = by_sid(role_statements(project, "Ingestion", "DevicesRole"))
    assert set(statements) == {
        "PutOnTheStream",
        "KeepFailuresUnderTheErrorPrefix",
        "EncryptFailures",
        "EncryptOnTheStream",
    }
    assert statements["PutOnTheStream"]["Action"] == "kinesis:PutRecord"
    assert "IngestionStream" in text(statements["PutOnTheStream"]["Resource"])
    assert statements["KeepFailuresUnderTheErrorPrefix"]["Action"] == "s3:PutObject"
    assert text(statements["KeepFailuresUnderTheErrorPrefix"]["Resource"]).endswith(
        '/errors/devices/*"]]}'
    )
    for sid, service in (("EncryptFailures", "s3."), ("EncryptOnTheStream", "kinesis.")):
        assert statements[sid]["Action"] == "kms:GenerateDataKey"
        assert service in text(statements[sid]["Condition"]["StringEquals"]["kms:ViaService"])
