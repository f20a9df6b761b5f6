"""Nothing lost: outside sandbox mode (the default), destroying every stack keeps the data:
the zone buckets, an object written before, the keys, the stream, the log groups, the audit
trail's logs and the results table, still protected against deletion."""

from __future__ import annotations

from tests.deploy.scenarios import Scenario


def test_destroy_outside_sandbox_mode_keeps_buckets_objects_and_keys(retained: Scenario) -> None:
    lake = retained.result("lake")
    before = retained.result("before_destroy")
    after = retained.result("after_destroy")
    assert set(retained.result("stacks_after_destroy")) == {"CDKToolkit"}  # the stacks are gone
    zone_buckets = {
        lake[key] for key in ("RawBucketName", "CuratedBucketName", "AnalyticsBucketName")
    } | {lake["AccessLogsBucketName"]}
    assert zone_buckets <= set(after["buckets"])
    written = retained.result("written")
    assert retained.result("object_after_destroy") == written["body"]
    assert after["keys"][lake["LakeKeyArn"]] == "Enabled"
    assert set(after["keys"]) == set(before["keys"])
    assert set(after["keys"].values()) == {"Enabled"}  # none scheduled for deletion


def test_destroy_outside_sandbox_mode_keeps_the_stream_and_the_logs(retained: Scenario) -> None:
    real_time = retained.result("real_time")
    before = retained.result("before_destroy")
    after = retained.result("after_destroy")
    assert after["streams"] == [real_time["StreamName"]]
    assert before["log_groups"] and after["log_groups"] == before["log_groups"]
    assert after["functions"] == []  # code and wiring go; data and keys stay
    assert after["delivery_streams"] == []


def test_destroy_outside_sandbox_mode_keeps_the_audit_logs_and_their_key(
    retained: Scenario,
) -> None:
    governance = retained.result("governance")
    outputs, trail = governance["outputs"], governance["trail"]
    before = retained.result("before_destroy")
    after = retained.result("after_destroy")
    assert outputs["TrailBucketName"] in after["buckets"]
    assert outputs["TrailLogGroupName"] in after["log_groups"]
    assert after["keys"][trail["KmsKeyId"]] == "Enabled"
    # the trail and the budget are configuration: they go with the stack
    assert before["trails"] == ["mlbp-dev-audit"] and after["trails"] == []
    assert before["budgets"] == ["mlbp-dev-monthly"] and after["budgets"] == []


def test_destroy_outside_sandbox_mode_keeps_the_results_table_protected(
    retained: Scenario,
) -> None:
    serving = retained.result("serving")
    name = serving["outputs"]["ResultsTableName"]
    assert serving["table"]["DeletionProtectionEnabled"] is True
    assert retained.result("after_destroy")["tables"] == [name]
    table = retained.result("table_after_destroy")
    assert table["DeletionProtectionEnabled"] is True
    assert retained.result("after_destroy")["keys"][table["SSEDescription"]["KMSMasterKeyArn"]] == (
        "Enabled"
    )
    # DynamoDB refuses to delete it until someone turns deletion protection off
    refused = retained.result("delete_table_after_destroy")
    assert refused["Code"] == "ValidationException"
    assert "protected against deletion" in refused["Message"]
