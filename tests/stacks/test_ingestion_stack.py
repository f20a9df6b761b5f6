"""IngestionStack: devices and the results-table export always; Batch, DMS and DataSync
only with their context; deployed after the layers it builds on; its outputs."""

from __future__ import annotations

import json
from collections import Counter

from tests.conftest import Synthesized


def _types(synth: Synthesized) -> Counter[str]:
    return Counter(r["Type"] for r in synth.template_json("Ingestion")["Resources"].values())


def test_by_default_devices_and_the_export_only(project: Synthesized) -> None:
    types = _types(project)
    assert types["AWS::IoT::TopicRule"] == 2 and types["AWS::IoT::Policy"] == 1
    assert types["AWS::StepFunctions::StateMachine"] == 1
    assert types["AWS::Scheduler::Schedule"] == 1
    assert types["AWS::KMS::Key"] == 0  # its alert topic uses the data lake's alerts key
    [topic] = project.resources("Ingestion", "AWS::SNS::Topic").values()
    assert "PublishOutputFnGetAttAlertsKey" in json.dumps(topic["Properties"]["KmsMasterKeyId"])
    for opt_in in (
        "AWS::Batch::JobDefinition",
        "AWS::DMS::ReplicationConfig",
        "AWS::DataSync::Task",
        "AWS::EC2::VPCEndpoint",
    ):
        assert types[opt_in] == 0, opt_in
    outputs = project.template_json("Ingestion")["Outputs"]
    assert set(outputs) == {
        "DeviceTopic",
        "DeviceRuleName",
        "DevicePolicyName",
        "DeviceErrorPrefix",
        "ExportStateMachineArn",
    }
    assert outputs["DeviceTopic"]["Value"] == "devices/<thing name>/telemetry"
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    ingestion = manifest["artifacts"]["Ingestion"]
    assert ingestion["properties"]["stackName"] == "mlbp-dev-ingestion"
    assert {"DataLake", "RealTime", "Serving"} <= set(ingestion["dependencies"])


def test_every_opt_in_from_context(sandbox_project: Synthesized) -> None:
    types = _types(sandbox_project)
    assert types["AWS::Batch::JobDefinition"] == 1
    assert types["AWS::DMS::ReplicationConfig"] == 1 and types["AWS::DMS::Endpoint"] == 2
    assert types["AWS::DataSync::Task"] == 1 and types["AWS::DataSync::LocationSMB"] == 1
    assert types["AWS::EC2::VPCEndpoint"] == 4
    assert types["AWS::StepFunctions::StateMachine"] == 2  # the export and the batch job
    assert types["AWS::KMS::Key"] == 0  # one alert topic, on the data lake's alerts key
    assert types["AWS::SNS::Topic"] == 1
    outputs = sandbox_project.template_json("Ingestion")["Outputs"]
    assert {
        "BatchJobQueueArn",
        "BatchJobDefinitionArn",
        "BatchStateMachineArn",
        "ReplicationConfigArn",
        "ReplicationPrefix",
        "DataSyncTaskArn",
    } <= set(outputs)
