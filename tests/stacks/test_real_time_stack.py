"""RealTimeStack: composes StreamingIngestion over the data lake layer's lake."""

from __future__ import annotations

import json

from tests.conftest import Synthesized


def test_outputs_name_the_stream_delivery_stream_and_prefixes(project: Synthesized) -> None:
    # Besides its own, CDK publishes what the ingestion layer references (PublishOutput...).
    outputs = {
        k: v
        for k, v in project.template_json("RealTime")["Outputs"].items()
        if not k.startswith("PublishOutput")
    }
    assert set(outputs) == {
        "StreamName",
        "DeliveryStreamName",
        "RawPrefix",
        "ErrorPrefix",
        "EventsTable",
    }
    raw_prefix = json.dumps(outputs["RawPrefix"]["Value"])
    assert raw_prefix.startswith('{"Fn::Join"') and raw_prefix.endswith('"/events/"]]}')
    assert outputs["EventsTable"]["Value"] == "mlbp_dev_streaming.events"


def test_the_lake_is_referenced_from_the_data_lake_stack(project: Synthesized) -> None:
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    assert "DataLake" in manifest["artifacts"]["RealTime"]["dependencies"]
    template = json.dumps(project.template_json("RealTime"))
    assert '"StackName": "mlbp-dev-data-lake"' in template
    assert len(project.resources("RealTime", "AWS::S3::Bucket")) == 0  # no second lake
    assert project.settings is not None
    assert manifest["artifacts"]["RealTime"]["properties"]["stackName"] == "mlbp-dev-real-time"


def test_in_sandbox_the_stream_and_logs_are_deleted_with_the_stack(
    sandbox_project: Synthesized, project: Synthesized
) -> None:
    for resource_type in ("AWS::Kinesis::Stream", "AWS::Logs::LogGroup", "AWS::KMS::Key"):
        for logical_id, resource in sandbox_project.resources("RealTime", resource_type).items():
            assert resource.get("DeletionPolicy") == "Delete", logical_id
        for logical_id, resource in project.resources("RealTime", resource_type).items():
            assert resource.get("DeletionPolicy") == "Retain", logical_id
