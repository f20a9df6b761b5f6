"""Nothing lost: outside sandbox mode (the default), destroying every stack keeps the data:
the zone buckets, an object written before, the keys, the stream and the log groups."""

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
