"""DataLakeStack: composition, outputs, tags, and the sandbox switch."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Synthesized

STACK_OUTPUTS = (
    "RawBucketName",
    "CuratedBucketName",
    "AnalyticsBucketName",
    "AccessLogsBucketName",
    "LakeKeyArn",
    "VpcId",
    "S3EndpointId",
)
STATEFUL = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup")


def test_outputs_name_the_buckets_key_and_endpoint(project: Synthesized) -> None:
    outputs = project.template_json("DataLake")["Outputs"]
    # Besides its own, CDK publishes what other layers reference (PublishOutput...).
    assert set(outputs) >= set(STACK_OUTPUTS)
    assert all(k.startswith("PublishOutput") for k in set(outputs) - set(STACK_OUTPUTS))
    stack = project.stack("DataLake")
    endpoint_id = stack.get_logical_id(stack.network.s3_endpoint.node.default_child)
    assert outputs["S3EndpointId"]["Value"] == {"Ref": endpoint_id}
    raw_id = stack.get_logical_id(stack.lake.bucket("raw").node.default_child)
    assert outputs["RawBucketName"]["Value"] == {"Ref": raw_id}


def test_stack_is_environment_agnostic_and_named_after_the_environment(
    project: Synthesized,
) -> None:
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    artifact = manifest["artifacts"]["DataLake"]
    assert artifact["environment"] == "aws://unknown-account/unknown-region"
    assert artifact["properties"]["stackName"] == "mlbp-dev-data-lake"


@pytest.mark.parametrize(
    "resource_type",
    [*STATEFUL, "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::IAM::Role", "AWS::Lambda::Function"],
)
def test_every_taggable_resource_is_tagged_with_project_and_environment(
    project: Synthesized, sandbox_project: Synthesized, resource_type: str
) -> None:
    for synth, env_name in ((project, "dev"), (sandbox_project, "sbx")):
        for logical_id, resource in synth.resources("DataLake", resource_type).items():
            tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
            assert tags.get("project") == "ml-blueprints", logical_id
            assert tags.get("environment") == env_name, logical_id


def test_outside_sandbox_every_stateful_resource_is_retained(project: Synthesized) -> None:
    for resource_type in STATEFUL:
        for logical_id, resource in project.resources("DataLake", resource_type).items():
            assert resource.get("DeletionPolicy") == "Retain", logical_id
            assert resource.get("UpdateReplacePolicy") == "Retain", logical_id


def test_in_sandbox_everything_is_deleted_and_buckets_are_emptied_first(
    sandbox_project: Synthesized,
) -> None:
    for resource_type in STATEFUL:
        for logical_id, resource in sandbox_project.resources("DataLake", resource_type).items():
            assert resource.get("DeletionPolicy") == "Delete", logical_id
    buckets = sandbox_project.resources("DataLake", "AWS::S3::Bucket")
    emptied = {
        r["Properties"]["BucketName"]["Ref"]
        for r in sandbox_project.resources("DataLake", "Custom::S3AutoDeleteObjects").values()
    }
    assert emptied == set(buckets)
    keys = sandbox_project.resources("DataLake", "AWS::KMS::Key").values()
    # Every key the sandbox deletes is deleted after the shortest wait KMS allows (7 days),
    # not the default 30, so a torn-down sandbox stops costing $1/month per key sooner.
    assert keys
    assert {k["Properties"].get("PendingWindowInDays") for k in keys} == {7}


@pytest.mark.parametrize("mode", ["default", "sandbox"])
def test_every_function_logs_to_a_log_group_the_stack_owns(
    project: Synthesized, sandbox_project: Synthesized, mode: str
) -> None:
    """Lambda's own /aws/lambda/<name> group would be unencrypted, kept forever and left
    behind by a destroy; every function here has its group in the template instead, and
    every custom resource using the function waits for that group."""
    synth = sandbox_project if mode == "sandbox" else project
    resources = synth.template_json("DataLake")["Resources"]
    functions = synth.resources("DataLake", "AWS::Lambda::Function")
    assert functions, "the stack has CDK's provider functions"
    groups = {
        json.dumps(g["Properties"].get("LogGroupName")): logical_id
        for logical_id, g in synth.resources("DataLake", "AWS::Logs::LogGroup").items()
    }
    for function_id in functions:
        name = json.dumps({"Fn::Join": ["", ["/aws/lambda/", {"Ref": function_id}]]})
        assert name in groups, f"{function_id} has no log group in the stack"
        group = resources[groups[name]]["Properties"]
        assert "KmsKeyId" in group and group["RetentionInDays"] == 365
        for logical_id, resource in resources.items():
            token = resource.get("Properties", {}).get("ServiceToken")
            if token == {"Fn::GetAtt": [function_id, "Arn"]}:
                assert groups[name] in resource.get("DependsOn", []), logical_id


def test_one_alerts_key_encrypts_every_layers_alert_topic(project: Synthesized) -> None:
    """The operators' trust boundary: one key (in this stack) for the alert topics of the
    real-time, analytics, ML and ingestion layers; CloudWatch and EventBridge of this account
    may use it for each topic, nobody else by the key policy."""
    stack = project.stack("DataLake")
    key_id = stack.get_logical_id(stack.alerts_key.node.default_child)
    key = project.template_json("DataLake")["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    for layer in ("RealTime", "Analytics", "Ml", "Ingestion"):
        assert project.resources(layer, "AWS::KMS::Key") == {}, layer
        [topic] = project.resources(layer, "AWS::SNS::Topic").values()
        reference = json.dumps(topic["Properties"]["KmsMasterKeyId"])
        assert f'"OutputName": "PublishOutputFnGetAtt{key_id}Arn' in reference, layer
    publishers = [
        s for s in key["KeyPolicy"]["Statement"] if s.get("Sid", "").startswith("AllowPublishersOf")
    ]
    assert len(publishers) == 4
    for statement in publishers:
        assert statement["Principal"] == {
            "Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
        }
        assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }
