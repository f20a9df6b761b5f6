"""The compliance gates: all five rule packs run, nothing is left open, every
acknowledgment is specific, used and explained, and cfn-lint finds no errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_redshiftserverless as redshiftserverless
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from ml_blueprints.compliance import (
    acknowledge,
    acknowledge_wildcard_resources,
    acknowledged_findings,
    acknowledged_findings_in_assembly,
    apply_rule_packs,
    check_reason,
    flatten_cfn_reference,
)
from ml_blueprints.packs import RULE_PACKS
from ml_blueprints.report import lint_errors, read_validation_report, templates
from tests.conftest import FEATURE_FLAGS, Synthesized


def test_no_unacknowledged_finding_in_any_app(all_apps: list[Synthesized]) -> None:
    for synth in all_apps:
        summary = read_validation_report(synth.outdir)
        assert set(summary.open_findings) >= set(RULE_PACKS)
        assert summary.clean, summary.open_findings


def test_every_acknowledgment_is_explained_and_used(all_apps: list[Synthesized]) -> None:
    total = 0
    for synth in all_apps:
        used = {
            (a.acknowledged_at, a.rule) for a in read_validation_report(synth.outdir).acknowledged
        }
        for ack in acknowledged_findings_in_assembly(synth.outdir):
            # A rule id without its pack is recorded as an annotation and silences nothing.
            assert not (ack.source == "Annotation" and ack.finding.startswith(RULE_PACKS)), ack
            if not ack.is_rule_pack_finding:
                continue  # CDK's own, e.g. CloudFormation-Validate::W3010 on every stack
            total += 1
            assert check_reason(ack.reason) is None, (ack.path, ack.finding, ack.reason)
            assert (ack.path, ack.finding) in used, f"unused acknowledgment {ack}"
    assert total > 0  # the lake acknowledges replication; an empty walk would be a bug


def test_cfn_lint_finds_no_errors_in_any_template(all_apps: list[Synthesized]) -> None:
    checked = 0
    for synth in all_apps:
        matches = synth.lint_matches()
        errors = [m for m in matches if m["Level"] == "Error"]
        assert errors == [], json.dumps(errors, indent=1)[:3000]
        checked += len(templates(synth.outdir))
    assert checked >= 15


def _statements(template: dict) -> list[dict]:
    found = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        documents = [properties.get("PolicyDocument"), properties.get("KeyPolicy")]
        documents += [p.get("PolicyDocument") for p in properties.get("Policies", [])]
        for document in filter(None, documents):
            statements = document.get("Statement", [])
            found += statements if isinstance(statements, list) else [statements]
    return found


def test_every_s3_encryption_context_condition_admits_the_bucket_key(
    all_apps: list[Synthesized],
) -> None:
    """The lake's buckets use S3 Bucket Keys, so S3 asks KMS with the bucket's ARN as the
    encryption context, not the object's: a condition naming objects only would deny every
    write in AWS (the emulator does not check it). Every such condition names a bucket."""
    checked = 0
    for app in all_apps:
        for path in sorted(app.outdir.glob("*.template.json")):
            for statement in _statements(json.loads(path.read_text())):
                for operator in statement.get("Condition", {}).values():
                    values = operator.get("kms:EncryptionContext:aws:s3:arn")
                    if values is None:
                        continue
                    values = values if isinstance(values, list) else [values]
                    checked += 1
                    assert any("/" not in json.dumps(v) for v in values), (path.name, statement)
    assert checked >= 10


def test_every_key_a_stack_deletes_waits_seven_days(all_apps: list[Synthesized]) -> None:
    """A KMS key bills $1/month until it is gone: a key deleted with its stack (sandbox
    mode) is scheduled with KMS's shortest pending window, 7 days, not the 30 of the
    default; a retained key has no pending window to set."""
    deleted = retained = 0
    for app in all_apps:
        for path in sorted(app.outdir.glob("*.template.json")):
            resources = json.loads(path.read_text()).get("Resources", {})
            for logical_id, key in resources.items():
                if key["Type"] != "AWS::KMS::Key":
                    continue
                window = key["Properties"].get("PendingWindowInDays")
                if key.get("DeletionPolicy") == "Delete":
                    deleted += 1
                    assert window == 7, (path.name, logical_id, window)
                else:
                    retained += 1
                    assert key.get("DeletionPolicy") == "Retain", (path.name, logical_id)
                    assert window is None, (path.name, logical_id, window)
    assert deleted >= 5 and retained >= 5, (deleted, retained)


def test_the_report_lints_like_the_test(project: Synthesized) -> None:
    template = min(templates(project.outdir), key=lambda path: path.stat().st_size)
    errors, warnings = lint_errors(template)
    assert errors == []
    in_background = [
        m
        for m in project.lint_matches()
        if m["Filename"] == str(template) and m["Level"] == "Warning"
    ]
    assert len(warnings) == len(in_background)


def test_all_five_rule_packs_fail_a_non_compliant_stack(tmp_path: Path) -> None:
    app = cdk.App(context=FEATURE_FLAGS, outdir=str(tmp_path))
    stack = cdk.Stack(app, "Careless")
    s3.Bucket(stack, "Bucket")
    redshiftserverless.CfnWorkgroup(stack, "Workgroup", workgroup_name="careless")
    apply_rule_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    failed = {p["pluginName"] for p in report["pluginReports"] if p["conclusion"] == "failure"}
    assert failed == set(RULE_PACKS)


def test_an_acknowledgment_suppresses_exactly_its_finding(tmp_path: Path) -> None:
    app = cdk.App(context=FEATURE_FLAGS, outdir=str(tmp_path))
    bucket = s3.Bucket(cdk.Stack(app, "Careless"), "Bucket", enforce_ssl=True)
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        "A test bucket that exists only to show that one "
        "acknowledgment suppresses one finding and nothing else.",
    )
    apply_rule_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    summary = read_validation_report(tmp_path)
    assert [(a.rule, a.acknowledged_at) for a in summary.acknowledged] == [
        ("AwsSolutions-S1", "Careless/Bucket")
    ]
    assert summary.open_findings["AwsSolutions"] == []
    assert any("S3BucketLoggingEnabled" in f for f in summary.open_findings["HIPAA.Security"])


@pytest.mark.parametrize(
    ("finding", "reason", "expected"),
    [
        ("S1", "x" * 50, "finding='S1': a rule id of one of the packs"),
        ("AwsSolutions-", "x" * 50, "finding='AwsSolutions-'"),
        ("Foo-S1", "x" * 50, "finding='Foo-S1'"),
        ("AwsSolutions-S1", "", "is generic"),
        ("AwsSolutions-S1", "False positive.", "is generic"),
        ("AwsSolutions-S1", "needed for the app", "is too short"),
    ],
)
def test_acknowledge_refuses_unknown_rules_and_empty_or_generic_reasons(
    finding: str, reason: str, expected: str
) -> None:
    scope = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match=r"^acknowledge: ") as error:
        acknowledge(scope, finding, reason)
    assert expected in str(error.value)


def test_the_assembly_records_the_acknowledgments_of_the_tree(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    reason = "A specific reason that explains why this finding is safe in this very place."
    stack = cdk.Stack(app, "Top")
    acknowledge(s3.Bucket(stack, "Bucket"), "AwsSolutions-S1", reason)
    acknowledge(stack, "HIPAA.Security-S3BucketReplicationEnabled", reason)
    staged = cdk.Stack(cdk.Stage(app, "Stage"), "Inner")
    acknowledge(s3.Bucket(staged, "Bucket"), "AwsSolutions-S10", reason)
    app.synth()
    pack_findings = [
        a for a in acknowledged_findings_in_assembly(tmp_path) if a.is_rule_pack_finding
    ]
    assert sorted(pack_findings, key=str) == sorted(
        [a for a in acknowledged_findings(app) if a.is_rule_pack_finding], key=str
    )
    assert {(a.path, a.finding) for a in pack_findings} == {
        ("Top/Bucket", "AwsSolutions-S1"),
        ("Top", "HIPAA.Security-S3BucketReplicationEnabled"),
        ("Stage/Inner/Bucket", "AwsSolutions-S10"),
    }


def test_acknowledge_qualifies_the_rule_with_its_pack() -> None:
    scope = cdk.Stack(cdk.App(), "S")
    reason = "A specific reason that explains why this finding is safe in this very place."
    acknowledge(scope, "AwsSolutions-IAM5[Resource::*]", reason)
    entries = [
        m.data
        for m in scope.node.metadata
        if m.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ]
    assert entries == [{"AwsSolutions::AwsSolutions-IAM5[Resource::*]": reason}]


@pytest.mark.parametrize(
    ("value", "flat"),
    [
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/*"),
        ("arn:${AWS::Partition}:s3:::b/{x}", "arn:<AWS::Partition>:s3:::b/{x>"),  # as JS does
        ({"Fn::GetAtt": ["Bucket1", "Arn"]}, "<Bucket1.Arn>"),
        ({"Ref": "AWS::Region"}, "<AWS::Region>"),
        ({"Fn::ImportValue": "Base:ExportsOutputBucketArn"}, "Base:ExportsOutputBucketArn"),
        (
            {"Fn::Join": ["", [{"Fn::ImportValue": "Base:Arn"}, "/events/*"]]},
            "Base:Arn/events/*",
        ),
        ({"Fn::Join": [":", ["arn", {"Ref": "AWS::Partition"}, "s3"]]}, "arn:<AWS::Partition>:s3"),
        ({"Fn::Sub": "arn:${AWS::Partition}:s3:::b/*"}, "arn:<AWS::Partition>:s3:::b/*"),
        (
            {"Fn::GetStackOutput": {"StackName": "s", "OutputName": "o"}},
            '{"Fn::GetStackOutput":{"StackName":"s","OutputName":"o"}}',
        ),
        ({"Fn::Sub": ["x-${y}", {"y": "z"}]}, '["x-${y}",{"y":"z"}]'),
        ({"Ref": ""}, '{"Ref":""}'),  # a falsy value is not an intrinsic to cdk-nag
        (None, ""),
    ],
)
def test_flatten_cfn_reference_renders_like_cdk_nag(value: object, flat: str) -> None:
    assert flatten_cfn_reference(value) == flat


def test_wildcard_acknowledgments_match_strong_and_weak_cross_stack_references(
    tmp_path: Path,
) -> None:
    from aws_cdk import aws_iam as iam

    for strength in ("strong", "weak"):
        outdir = tmp_path / strength
        app = cdk.App(
            context={"@aws-cdk/core:defaultCrossStackReferences": strength}, outdir=str(outdir)
        )
        producer = cdk.Stack(app, "Producer")
        bucket = s3.Bucket(producer, "Bucket")
        consumer = cdk.Stack(app, "Consumer")
        policy = iam.ManagedPolicy(
            consumer,
            "Policy",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[bucket.arn_for_objects("events/*")]
                )
            ],
        )
        acknowledge_wildcard_resources(
            policy,
            [bucket.arn_for_objects("events/*"), bucket.bucket_arn],
            "Objects under one prefix of one bucket, named at run time: the point of the test.",
        )
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        with contextlib.suppress(RuntimeError):  # the bare bucket has findings of its own
            app.synth()
        summary = read_validation_report(outdir)
        iam5 = [f for f in summary.open_findings["AwsSolutions"] if "IAM5" in f]
        assert iam5 == [], strength
        [acknowledged] = [a for a in summary.acknowledged if "IAM5" in a.rule]
        assert acknowledged.acknowledged_at == "Consumer/Policy"
        expected = "Producer:ExportsOutput" if strength == "strong" else '{"Fn::GetStackOutput"'
        assert acknowledged.rule.startswith(f"AwsSolutions-IAM5[Resource::{expected}"), acknowledged
