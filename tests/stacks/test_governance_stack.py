"""GovernanceStack: composes the budget and the trail over the data lake layer's lake."""

from __future__ import annotations

import json

from tests.conftest import Synthesized


def test_outputs_and_stack_name(project: Synthesized) -> None:
    outputs = project.template_json("Governance")["Outputs"]
    assert set(outputs) == {
        "BudgetName",
        "AlertTopicArn",
        "TrailArn",
        "TrailBucketName",
        "TrailLogGroupName",
    }
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    artifact = manifest["artifacts"]["Governance"]
    assert artifact["properties"]["stackName"] == "mlbp-dev-governance"
    assert "DataLake" in artifact["dependencies"]


def test_one_key_serves_the_trail_its_logs_and_the_budget_topic(project: Synthesized) -> None:
    (key_id,) = project.resources("Governance", "AWS::KMS::Key")
    template = json.dumps(project.template_json("Governance"))
    assert template.count(f'"Fn::GetAtt": ["{key_id}", "Arn"]') >= 4  # trail, 2 buckets, logs
    (topic,) = project.resources("Governance", "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_in_sandbox_everything_is_deleted_with_the_stack(
    sandbox_project: Synthesized, project: Synthesized
) -> None:
    for resource_type in ("AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::KMS::Key"):
        sandbox = sandbox_project.resources("Governance", resource_type)
        default = project.resources("Governance", resource_type)
        assert sandbox and default
        assert {r.get("DeletionPolicy") for r in sandbox.values()} == {"Delete"}, resource_type
        assert {r.get("DeletionPolicy") for r in default.values()} == {"Retain"}, resource_type
    (key,) = sandbox_project.resources("Governance", "AWS::KMS::Key").values()
    assert key["Properties"]["PendingWindowInDays"] == 7
    emptied = sandbox_project.resources("Governance", "Custom::S3AutoDeleteObjects")
    assert len(emptied) == 2  # the trail's bucket and its access-logs bucket
    (budget,) = sandbox_project.resources("Governance", "AWS::Budgets::Budget").values()
    assert budget["Properties"]["Budget"]["BudgetName"] == "mlbp-sbx-monthly"
