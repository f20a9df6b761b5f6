"""AuditTrail: what the trail records, where it writes, who may use its bucket and key."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from ml_blueprints.constructs import AuditTrail
from tests.conftest import Synthesized

TRAIL_ARN_SUFFIX = ":trail/mlbp-dev-audit"


def _one(app: Synthesized, stack: str, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = app.resources(stack, resource_type)
    assert len(found) == 1, (stack, resource_type, list(found))
    return next(iter(found.items()))


def _lake_output(app: Synthesized, output_name: str) -> str:
    """The DataLake resource a weak cross-stack reference (Fn::GetStackOutput) names."""
    outputs = app.template_json("DataLake")["Outputs"]
    return outputs[output_name]["Value"]["Fn::GetAtt"][0]


def _arn_text(value: Any) -> str:
    """A Fn::Join ARN as text with the pseudo parameters named."""
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<{p.get('Ref', '?')}>" for p in parts)


def test_the_trail_is_multi_region_validated_encrypted_and_sent_to_logs(
    project: Synthesized,
) -> None:
    _, trail = _one(project, "Governance", "AWS::CloudTrail::Trail")
    props = trail["Properties"]
    key_id, _ = _one(project, "Governance", "AWS::KMS::Key")
    assert props["TrailName"] == "mlbp-dev-audit"
    assert props["IsMultiRegionTrail"] is True
    assert props["IncludeGlobalServiceEvents"] is True
    assert props["EnableLogFileValidation"] is True
    assert props["IsLogging"] is True
    assert props["KMSKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    buckets = project.resources("Governance", "AWS::S3::Bucket")
    trail_bucket = next(k for k in buckets if k.startswith("TrailBucket"))
    assert props["S3BucketName"] == {"Ref": trail_bucket}
    log_group_id, log_group = _one(project, "Governance", "AWS::Logs::LogGroup")
    assert props["CloudWatchLogsLogGroupArn"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert log_group["Properties"]["RetentionInDays"] == 365


def test_management_events_include_kms_and_data_events_cover_exactly_the_zones(
    project: Synthesized,
) -> None:
    _, trail = _one(project, "Governance", "AWS::CloudTrail::Trail")
    (selector,) = trail["Properties"]["EventSelectors"]
    assert selector["IncludeManagementEvents"] is True
    assert selector["ReadWriteType"] == "All"
    assert "ExcludeManagementEventSources" not in selector  # kms.amazonaws.com is recorded
    assert "AdvancedEventSelectors" not in trail["Properties"]
    (resource,) = selector["DataResources"]
    assert resource["Type"] == "AWS::S3::Object"
    recorded = set()
    for value in resource["Values"]:
        reference, suffix = value["Fn::Join"][1]
        assert suffix == "/"  # every object of the bucket
        recorded.add(_lake_output(project, reference["Fn::GetStackOutput"]["OutputName"]))
    zones = {
        k
        for k in project.resources("DataLake", "AWS::S3::Bucket")
        if not k.startswith("LakeAccessLogs")
    }
    assert len(zones) == 3 and recorded == zones


def test_cloudtrail_of_this_trail_only_may_write_to_the_bucket(project: Synthesized) -> None:
    policies = project.resources("Governance", "AWS::S3::BucketPolicy")
    trail_policy = next(p for k, p in policies.items() if k.startswith("TrailBucketPolicy"))
    statements = {
        s.get("Sid"): s for s in trail_policy["Properties"]["PolicyDocument"]["Statement"]
    }
    acl, write = statements["AWSCloudTrailAclCheck"], statements["AWSCloudTrailWrite"]
    for statement in (acl, write):
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        source = statement["Condition"]["StringEquals"]["aws:SourceArn"]
        assert _arn_text(source).endswith(TRAIL_ARN_SUFFIX)
    assert acl["Action"] == "s3:GetBucketAcl"
    assert write["Action"] == "s3:PutObject"
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert _arn_text(write["Resource"]).endswith("/AWSLogs/<AWS::AccountId>/*")
    document = trail_policy["Properties"]["PolicyDocument"]["Statement"]
    tls = [s for s in document if s["Effect"] == "Deny"]
    assert {json.dumps(s["Condition"], sort_keys=True) for s in tls} == {
        '{"Bool": {"aws:SecureTransport": "false"}}',
        '{"NumericLessThan": {"s3:TlsVersion": 1.2}}',
    }


def test_the_log_bucket_is_encrypted_versioned_private_logged_and_tiered(
    project: Synthesized,
) -> None:
    buckets = project.resources("Governance", "AWS::S3::Bucket")
    key_id, _ = _one(project, "Governance", "AWS::KMS::Key")
    trail_id = next(k for k in buckets if k.startswith("TrailBucket"))
    logs_id = next(k for k in buckets if k.startswith("TrailAccessLogsBucket"))
    for bucket_id in (trail_id, logs_id):
        props = buckets[bucket_id]["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
        }
        assert rule["BucketKeyEnabled"] is True
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert buckets[bucket_id]["DeletionPolicy"] == "Retain"
    trail_props = buckets[trail_id]["Properties"]
    assert trail_props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": "trail/",
    }
    (rule,) = trail_props["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 90}]
    assert rule["ExpirationInDays"] == 2557
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    (logs_rule,) = buckets[logs_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert logs_rule["ExpirationInDays"] == 365


def test_the_key_lets_cloudtrail_encrypt_for_this_trail_only(project: Synthesized) -> None:
    _, key = _one(project, "Governance", "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    encrypt = statements["AllowCloudTrailToEncryptItsLogs"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    source = encrypt["Condition"]["StringEquals"]["aws:SourceArn"]
    assert _arn_text(source).endswith(TRAIL_ARN_SUFFIX)
    context = encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]
    assert _arn_text(context).endswith(":cloudtrail:*:<AWS::AccountId>:trail/*")
    describe = statements["AllowCloudTrailToDescribeTheKey"]
    assert describe["Action"] == "kms:DescribeKey"
    assert "AllowCloudWatchLogsOfThisAccount" in statements
    # Only AWS services (each for its own purpose) are named; people decrypt through the
    # account's IAM policies (the key policy's root statement), never by name here.
    decrypters = [s for s in statements.values() if "kms:Decrypt" in json.dumps(s["Action"])]
    assert decrypters and all(set(s["Principal"]) == {"Service"} for s in decrypters)


def test_only_cloudtrail_for_this_trail_writes_the_log_group(project: Synthesized) -> None:
    roles = project.resources("Governance", "AWS::IAM::Role")
    role_id, role = next((k, r) for k, r in roles.items() if k.startswith("TrailLogsRole"))
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert _arn_text(trust["Condition"]["StringEquals"]["aws:SourceArn"]).endswith(TRAIL_ARN_SUFFIX)
    assert "Policies" not in role["Properties"]  # no inline policy
    policy_id, policy = _one(project, "Governance", "AWS::IAM::ManagedPolicy")
    assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": policy_id}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    log_group_id, _ = _one(project, "Governance", "AWS::Logs::LogGroup")
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    _, trail = _one(project, "Governance", "AWS::CloudTrail::Trail")
    assert trail["Properties"]["CloudWatchLogsRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert set(trail["DependsOn"]) >= {
        next(
            k
            for k in project.resources("Governance", "AWS::S3::BucketPolicy")
            if k.startswith("TrailBucketPolicy")
        ),
        next(iter(project.resources("Governance", "AWS::IAM::ManagedPolicy"))),
    }


def test_variant_write_only_events_kept_forever_and_deleted_with_the_stack(
    construct_variants: Synthesized,
) -> None:
    _, trail = _one(construct_variants, "GovernanceVariants", "AWS::CloudTrail::Trail")
    (selector,) = trail["Properties"]["EventSelectors"]
    assert selector["ReadWriteType"] == "WriteOnly"
    assert trail["Properties"]["TrailName"].startswith("GovernanceVariants-Trail")
    buckets = construct_variants.resources("GovernanceVariants", "AWS::S3::Bucket")
    trail_bucket = next(b for k, b in buckets.items() if k.startswith("TrailBucket"))
    (rule,) = trail_bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert "Transitions" not in rule and "ExpirationInDays" not in rule
    assert trail_bucket["DeletionPolicy"] == "Delete"
    auto_delete = construct_variants.resources("GovernanceVariants", "Custom::S3AutoDeleteObjects")
    assert len(auto_delete) == 4  # the lake's raw and logs buckets, the trail's two
    groups = construct_variants.resources("GovernanceVariants", "AWS::Logs::LogGroup")
    trail_group = next(g for k, g in groups.items() if k.startswith("TrailLogGroup"))
    assert trail_group["Properties"]["RetentionInDays"] == 90
    assert trail_group["DeletionPolicy"] == "Delete"


def _trail(**props: Any) -> None:
    stack = cdk.Stack(cdk.App(), "Trail")
    AuditTrail(stack, "Trail", **props)


def _buckets(count: int) -> list[s3.IBucket]:
    stack = cdk.Stack(cdk.App(), "Buckets")
    return [s3.Bucket.from_bucket_name(stack, f"B{i}", f"bucket-{i}") for i in range(count)]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (
            {"data_events": "Everything"},
            "data_events='Everything': one of All, ReadOnly, WriteOnly",
        ),
        ({"trail_name": "a"}, "trail_name='a': 3-128 letters"),
        ({"trail_name": "-bad-start"}, "trail_name='-bad-start': 3-128 letters"),
        ({"archive_after_days": 0}, "archive_after_days=0: a whole number of days, at least 1"),
        ({"retention_days": 100}, "retention_days=100: a whole number of days, at least 180"),
        (
            {"archive_after_days": None, "retention_days": 0},
            "retention_days=0: a whole number of days, at least 1",
        ),
        ({"access_log_retention_days": 0}, "access_log_retention_days=0: a whole number"),
        ({"log_retention_days": 42}, "log_retention_days=42: one of CloudWatch Logs' periods"),
        ({"auto_delete_objects": True}, "auto_delete_objects=True: False unless removal_policy"),
        (
            {"data_event_buckets": ["my-bucket"]},
            "data_event_buckets[0]='my-bucket': an aws_s3.IBucket",
        ),
    ],
)
def test_bad_props_are_refused(props: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^AuditTrail Trail/Trail: invalid prop") as error:
        _trail(**props)
    assert expected in str(error.value)


def test_at_most_250_data_event_buckets() -> None:
    with pytest.raises(ValueError) as error:
        _trail(data_event_buckets=_buckets(251))
    assert "data_event_buckets='251 buckets': at most 250 buckets" in str(error.value)


def test_every_bad_prop_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as error:
        _trail(data_events="x", trail_name="?", log_retention_days=2)
    message = str(error.value)
    assert message.startswith("AuditTrail Trail/Trail: invalid props:")
    assert all(p in message for p in ("data_events=", "trail_name=", "log_retention_days="))
