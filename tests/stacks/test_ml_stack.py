"""MlStack: the pipeline always, the notebook and endpoint only when asked for."""

from __future__ import annotations

from tests.conftest import Synthesized


def test_default_ml_stack_has_only_what_costs_nothing_idle(project: Synthesized) -> None:
    outputs = project.template_json("Ml")["Outputs"]
    assert set(outputs) == {"TrainingStateMachineArn", "PretrainedModelUri"}
    uri = outputs["PretrainedModelUri"]["Value"]["Fn::Join"][1]
    assert uri[0] == "s3://" and "LakeAnalyticsBucket" in str(uri[1])
    assert uri[2] == "/pretrained/distilbert/distilbert-base-uncased/"
    for costly in ("AWS::SageMaker::NotebookInstance", "AWS::SageMaker::Endpoint"):
        assert not project.resources("Ml", costly)
    endpoints = project.resources("DataLake", "AWS::EC2::VPCEndpoint").values()
    assert {e["Properties"]["VpcEndpointType"] for e in endpoints} == {"Gateway"}


def test_opted_in_notebook_and_endpoint_are_output(sandbox_project: Synthesized) -> None:
    outputs = sandbox_project.template_json("Ml")["Outputs"]
    assert set(outputs) == {
        "TrainingStateMachineArn",
        "PretrainedModelUri",
        "NotebookName",
        "EndpointName",
    }
    assert outputs["NotebookName"]["Value"] == "mlbp-sbx-gpu"
    assert outputs["EndpointName"]["Value"] == "mlbp-sbx-inference"


def test_interface_endpoints_only_for_enabled_layers(sandbox_project: Synthesized) -> None:
    endpoints = sandbox_project.resources("DataLake", "AWS::EC2::VPCEndpoint").values()
    interfaces = [e for e in endpoints if e["Properties"]["VpcEndpointType"] == "Interface"]
    assert len(interfaces) == 5  # elasticmapreduce, kms, sts, glue, sagemaker.api (sts once)
