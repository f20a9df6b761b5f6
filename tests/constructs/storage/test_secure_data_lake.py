"""SecureDataLake: what makes the lake secure and correct, on the synthesized templates."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2

from ml_blueprints.compliance import acknowledged_findings
from ml_blueprints.constructs import SecureDataLake, ZoneLifecycle
from ml_blueprints.constructs.shared.grants import GRANTS_POLICY_ID
from ml_blueprints.constructs.storage.secure_data_lake import (
    OBJECT_DATA_ACTIONS,
    WRITE_BUCKET_ACTIONS,
    WRITE_OBJECT_ACTIONS,
)
from tests.conftest import Synthesized
from tests.constructs.variants import IMPORTED_KEY_ARN, PATTERN_EXEMPTION
from tests.iam_eval import denying_statements

ZONES = ("raw", "curated", "analytics")
OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/other"
#: The DataLake stack exempts the platform's service roles by name (see Settings).
SERVICE_ROLES = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":iam::",
            {"Ref": "AWS::AccountId"},
            ":role/mlbp-dev-svc-*",
        ],
    ]
}
FIREHOSE_ROLE = "arn:aws:iam::111122223333:role/mlbp-dev-svc-firehose-events"
OTHER_ENV_ROLE = "arn:aws:iam::111122223333:role/mlbp-prod-svc-firehose-events"


def _ids(synth: Synthesized, stack_id: str) -> dict[str, str]:
    """Logical ids of the lake's key and buckets in ``stack_id``, by zone (and 'logs')."""
    stack = synth.stack(stack_id)
    lake: SecureDataLake = stack.node.find_child("Lake")  # type: ignore[assignment]
    ids = {zone: stack.get_logical_id(b.node.default_child) for zone, b in lake.buckets.items()}
    ids["logs"] = stack.get_logical_id(lake.access_logs_bucket.node.default_child)
    if isinstance(lake.key.node.default_child, cdk.CfnResource):
        ids["key"] = stack.get_logical_id(lake.key.node.default_child)
    return ids  # type: ignore[return-value]


def _bucket_policy(synth: Synthesized, stack_id: str, bucket_id: str) -> dict[str, Any]:
    for policy in synth.resources(stack_id, "AWS::S3::BucketPolicy").values():
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id}:
            return policy["Properties"]["PolicyDocument"]
    raise AssertionError(f"no bucket policy for {bucket_id}")


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    matches = [s for s in policy["Statement"] if s.get("Sid") == sid]
    assert len(matches) == 1, f"expected one statement {sid}, found {len(matches)}"
    return matches[0]


def _objects_of(bucket_id: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}


# ------------------------------------------------------------------------- key and buckets


def test_one_customer_managed_key_with_rotation(project: Synthesized) -> None:
    ids = _ids(project, "DataLake")
    key = project.template_json("DataLake")["Resources"][ids["key"]]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_default_zones_and_a_logs_bucket(project: Synthesized) -> None:
    ids = _ids(project, "DataLake")
    assert set(ids) == {*ZONES, "logs", "key"}
    assert len(project.resources("DataLake", "AWS::S3::Bucket")) == 4


@pytest.mark.parametrize("zone", [*ZONES, "logs"])
def test_every_bucket_is_kms_encrypted_with_bucket_keys_private_and_versioned(
    project: Synthesized, zone: str
) -> None:
    ids = _ids(project, "DataLake")
    props = project.template_json("DataLake")["Resources"][ids[zone]]["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [ids["key"], "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


@pytest.mark.parametrize("zone", ZONES)
def test_every_zone_logs_to_the_access_logs_bucket_under_its_name(
    project: Synthesized, zone: str
) -> None:
    ids = _ids(project, "DataLake")
    props = project.template_json("DataLake")["Resources"][ids[zone]]["Properties"]
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": ids["logs"]},
        "LogFilePrefix": f"{zone}/",
    }


def _rules(synth: Synthesized, stack_id: str, bucket_id: str) -> dict[str, dict[str, Any]]:
    props = synth.template_json(stack_id)["Resources"][bucket_id]["Properties"]
    return {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}


@pytest.mark.parametrize("zone", ZONES)
def test_incomplete_multipart_uploads_are_aborted_after_a_week(
    project: Synthesized, zone: str
) -> None:
    rule = _rules(project, "DataLake", _ids(project, "DataLake")[zone])[
        "abort-incomplete-multipart-uploads"
    ]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rule["Status"] == "Enabled"


@pytest.mark.parametrize(
    ("zone", "transitions", "noncurrent"),
    [
        ("raw", [("STANDARD_IA", 30), ("GLACIER", 180)], 90),
        ("curated", [("STANDARD_IA", 90)], 30),
        ("analytics", [], 30),
    ],
)
def test_zones_are_tiered_by_zone(
    project: Synthesized, zone: str, transitions: list[tuple[str, int]], noncurrent: int
) -> None:
    rule = _rules(project, "DataLake", _ids(project, "DataLake")[zone])["tiering-and-expiry"]
    got = [(t["StorageClass"], t["TransitionInDays"]) for t in rule.get("Transitions", [])]
    assert got == transitions
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": noncurrent}
    assert "ExpirationInDays" not in rule  # no zone deletes current data by default


def test_access_logs_expire_after_their_retention(project: Synthesized) -> None:
    rule = _rules(project, "DataLake", _ids(project, "DataLake")["logs"])["expire-access-logs"]
    assert rule["ExpirationInDays"] == 365


def test_s3_log_delivery_may_write_the_logs_bucket_and_use_the_key(project: Synthesized) -> None:
    ids = _ids(project, "DataLake")
    policy = _bucket_policy(project, "DataLake", ids["logs"])
    delivery = [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert delivery and delivery[0]["Action"] == "s3:PutObject"
    key_policy = project.template_json("DataLake")["Resources"][ids["key"]]["Properties"]
    assert any(
        s["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        for s in key_policy["KeyPolicy"]["Statement"]
    )


def test_data_is_retained_by_default(project: Synthesized) -> None:
    ids = _ids(project, "DataLake")
    resources = project.template_json("DataLake")["Resources"]
    for logical_id in ids.values():
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
    assert not project.resources("DataLake", "Custom::S3AutoDeleteObjects")


# --------------------------------------------------------------------------- bucket policy


@pytest.mark.parametrize("zone", ZONES)
def test_bucket_policy_statements_and_conditions(project: Synthesized, zone: str) -> None:
    ids = _ids(project, "DataLake")
    policy = _bucket_policy(project, "DataLake", ids[zone])
    objects = _objects_of(ids[zone])
    bucket_and_objects = [{"Fn::GetAtt": [ids[zone], "Arn"]}, objects]
    endpoint = {
        "Ref": project.stack("DataLake").get_logical_id(
            project.stack("DataLake").network.s3_endpoint.node.default_child
        )
    }
    anyone = {"AWS": "*"}
    tls = [s for s in policy["Statement"] if "Sid" not in s]
    assert {
        "Action": "s3:*",
        "Effect": "Deny",
        "Principal": anyone,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Resource": bucket_and_objects,
    } in tls
    assert {
        "Action": "s3:*",
        "Effect": "Deny",
        "Principal": anyone,
        "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
        "Resource": bucket_and_objects,
    } in tls
    assert len(tls) == 2  # and nothing else without a Sid: no Allow statements by default

    sse = "s3:x-amz-server-side-encryption"
    assert _statement(policy, "DenyEncryptionOtherThanKms") == {
        "Sid": "DenyEncryptionOtherThanKms",
        "Effect": "Deny",
        "Principal": anyone,
        "Action": "s3:PutObject",
        "Resource": objects,
        "Condition": {"StringNotEquals": {sse: "aws:kms"}, "Null": {sse: "false"}},
    }
    key_header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert _statement(policy, "DenyKmsKeyOtherThanLakeKey") == {
        "Sid": "DenyKmsKeyOtherThanLakeKey",
        "Effect": "Deny",
        "Principal": anyone,
        "Action": "s3:PutObject",
        "Resource": objects,
        "Condition": {
            "StringNotEquals": {key_header: {"Fn::GetAtt": [ids["key"], "Arn"]}},
            "Null": {key_header: "false"},
        },
    }
    assert _statement(policy, "DenyCustomerProvidedKeys") == {
        "Sid": "DenyCustomerProvidedKeys",
        "Effect": "Deny",
        "Principal": anyone,
        "Action": "s3:PutObject",
        "Resource": objects,
        "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}},
    }
    assert _statement(policy, "DenyObjectAccessOutsideVpcEndpoint") == {
        "Sid": "DenyObjectAccessOutsideVpcEndpoint",
        "Effect": "Deny",
        "Principal": anyone,
        "Action": sorted(OBJECT_DATA_ACTIONS),
        "Resource": objects,
        "Condition": {
            "StringNotEquals": {"aws:SourceVpce": endpoint},
            "ArnNotLike": {"aws:PrincipalArn": [SERVICE_ROLES]},
            "ForAllValues:StringNotEquals": {"aws:CalledVia": ["athena.amazonaws.com"]},
        },
    }
    assert len(policy["Statement"]) == 6


@pytest.fixture(scope="module")
def raw_policy(project: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw zone's policy and a request context that every statement lets through."""
    stack = project.stack("DataLake")
    ids = _ids(project, "DataLake")
    endpoint = {"Ref": stack.get_logical_id(stack.network.s3_endpoint.node.default_child)}
    good = {
        "aws:SecureTransport": "true",
        "s3:TlsVersion": "1.3",
        "aws:SourceVpce": endpoint,
        "aws:PrincipalArn": "arn:aws:iam::111122223333:role/analyst",
    }
    return _bucket_policy(project, "DataLake", ids["raw"]), {"good": good, "ids": ids}


REQUESTS = [
    # (description, action, on_object, context changes, expected denying Sids)
    (
        "PUT through the endpoint with no encryption headers (default SSE-KMS applies)",
        "s3:PutObject",
        True,
        {},
        [],
    ),
    (
        "PUT asking for SSE-KMS with the lake key",
        "s3:PutObject",
        True,
        {
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": "LAKE_KEY",
        },
        [],
    ),
    (
        "PUT asking for SSE-S3",
        "s3:PutObject",
        True,
        {"s3:x-amz-server-side-encryption": "AES256"},
        ["DenyEncryptionOtherThanKms"],
    ),
    (
        "PUT asking for DSSE-KMS",
        "s3:PutObject",
        True,
        {"s3:x-amz-server-side-encryption": "aws:kms:dsse"},
        ["DenyEncryptionOtherThanKms"],
    ),
    (
        "PUT with another KMS key",
        "s3:PutObject",
        True,
        {
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY_ARN,
        },
        ["DenyKmsKeyOtherThanLakeKey"],
    ),
    (
        "PUT with a customer-provided key (SSE-C)",
        "s3:PutObject",
        True,
        {"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"},
        ["DenyCustomerProvidedKeys"],
    ),
    ("GET over plain HTTP", "s3:GetObject", True, {"aws:SecureTransport": "false"}, ["0"]),
    ("GET over TLS 1.1", "s3:GetObject", True, {"s3:TlsVersion": "1.1"}, ["1"]),
    (
        "GET from outside the VPC endpoint",
        "s3:GetObject",
        True,
        {"aws:SourceVpce": None},
        ["DenyObjectAccessOutsideVpcEndpoint"],
    ),
    (
        "GET from another VPC endpoint",
        "s3:GetObject",
        True,
        {"aws:SourceVpce": "vpce-0other"},
        ["DenyObjectAccessOutsideVpcEndpoint"],
    ),
    (
        "DELETE of an object version from outside the endpoint",
        "s3:DeleteObjectVersion",
        True,
        {"aws:SourceVpce": None},
        ["DenyObjectAccessOutsideVpcEndpoint"],
    ),
    (
        "GET forwarded by Athena from outside the endpoint",
        "s3:GetObject",
        True,
        {"aws:SourceVpce": None, "aws:CalledVia": ["athena.amazonaws.com"]},
        [],
    ),
    (
        "GET forwarded by another service from outside the endpoint",
        "s3:GetObject",
        True,
        {"aws:SourceVpce": None, "aws:CalledVia": ["cloudformation.amazonaws.com"]},
        ["DenyObjectAccessOutsideVpcEndpoint"],
    ),
    (
        "a platform service role (Firehose) writing from outside the endpoint",
        "s3:PutObject",
        True,
        {"aws:SourceVpce": None, "aws:PrincipalArn": FIREHOSE_ROLE},
        [],
    ),
    (
        "a role of another environment writing from outside the endpoint",
        "s3:PutObject",
        True,
        {"aws:SourceVpce": None, "aws:PrincipalArn": OTHER_ENV_ROLE},
        ["DenyObjectAccessOutsideVpcEndpoint"],
    ),
    (
        "CloudFormation updating the bucket policy from outside the endpoint",
        "s3:PutBucketPolicy",
        False,
        {"aws:SourceVpce": None},
        [],
    ),
    (
        "CloudFormation deleting the bucket from outside the endpoint",
        "s3:DeleteBucket",
        False,
        {"aws:SourceVpce": None},
        [],
    ),
    (
        "listing the bucket from outside the endpoint",
        "s3:ListBucket",
        False,
        {"aws:SourceVpce": None},
        [],
    ),
]


@pytest.mark.parametrize(
    ("action", "on_object", "changes", "expected"),
    [pytest.param(*r[1:], id=r[0]) for r in REQUESTS],
)
def test_bucket_policy_decides_requests(
    raw_policy: tuple[dict[str, Any], dict[str, Any]],
    action: str,
    on_object: bool,
    changes: dict[str, Any],
    expected: list[str],
) -> None:
    policy, data = raw_policy
    context = dict(data["good"])
    for key, value in changes.items():
        if value is None:
            context.pop(key)
        elif value == "LAKE_KEY":
            context[key] = {"Fn::GetAtt": [data["ids"]["key"], "Arn"]}
        else:
            context[key] = value
    assert denying_statements(policy, action, on_object=on_object, context=context) == expected


def test_sandbox_auto_delete_function_is_exempt_from_the_endpoint_restriction(
    sandbox_project: Synthesized,
) -> None:
    ids = _ids(sandbox_project, "DataLake")
    policy = _bucket_policy(sandbox_project, "DataLake", ids["raw"])
    [role_id] = [
        logical_id
        for logical_id in sandbox_project.resources("DataLake", "AWS::IAM::Role")
        if logical_id.startswith("CustomS3AutoDeleteObjects")
    ]
    role_arn = {"Fn::GetAtt": [role_id, "Arn"]}
    outside = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.2"}
    assert (
        denying_statements(
            policy,
            "s3:DeleteObjectVersion",
            on_object=True,
            context={**outside, "aws:PrincipalArn": role_arn},
        )
        == []
    )
    assert denying_statements(
        policy,
        "s3:DeleteObjectVersion",
        on_object=True,
        context={**outside, "aws:PrincipalArn": "arn:aws:iam::111122223333:role/someone"},
    ) == ["DenyObjectAccessOutsideVpcEndpoint"]


# ------------------------------------------------------------------------- non-default props


def test_exemptions_registered_later_and_by_pattern_are_in_the_policy(
    construct_variants: Synthesized,
) -> None:
    stack = construct_variants.stack("LakeSharedKey")
    ids = _ids(construct_variants, "LakeSharedKey")
    writer = stack.get_logical_id(stack.node.find_child("Writer").node.default_child)
    statement = _statement(
        _bucket_policy(construct_variants, "LakeSharedKey", ids["raw"]),
        "DenyObjectAccessOutsideVpcEndpoint",
    )
    assert statement["Condition"]["ArnNotLike"] == {
        "aws:PrincipalArn": [PATTERN_EXEMPTION, {"Fn::GetAtt": [writer, "Arn"]}]
    }
    assert statement["Condition"]["ForAllValues:StringNotEquals"] == {
        "aws:CalledVia": ["athena.amazonaws.com", "glue.amazonaws.com"]
    }
    context = {
        "aws:SecureTransport": "true",
        "s3:TlsVersion": "1.2",
        "aws:PrincipalArn": "arn:aws:iam::111122223333:role/etl-nightly",
    }
    policy = _bucket_policy(construct_variants, "LakeSharedKey", ids["raw"])
    assert denying_statements(policy, "s3:GetObject", on_object=True, context=context) == []


def test_a_callers_key_encrypts_every_bucket(construct_variants: Synthesized) -> None:
    for bucket in construct_variants.resources("LakeSharedKey", "AWS::S3::Bucket").values():
        [rule] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == IMPORTED_KEY_ARN
    assert not [
        k
        for k in construct_variants.resources("LakeSharedKey", "AWS::KMS::Key")
        if k.startswith("Lake")
    ]


def _grant_policy(synth: Synthesized, stack_id: str, role_id: str) -> dict[str, Any]:
    """The customer-managed policy the lake's grants put on ``role_id``."""
    stack = synth.stack(stack_id)
    role = stack.node.find_child(role_id)
    policy = getattr(role, "grants_policy", None) or role.node.find_child(GRANTS_POLICY_ID)
    resource = synth.template_json(stack_id)["Resources"][
        stack.get_logical_id(policy.node.default_child)
    ]
    assert resource["Type"] == "AWS::IAM::ManagedPolicy"  # grants are never inline
    assert {"Ref": stack.get_logical_id(role.node.default_child)} in resource["Properties"].get(
        "Roles", []
    ) or getattr(role, "grants_policy", None) is not None
    return resource


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The policy's statements with each action list sorted (CDK may sort them)."""
    return [
        {**st, "Action": sorted(st["Action"]) if isinstance(st["Action"], list) else st["Action"]}
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _s3_key_conditions(bucket_id: str) -> dict[str, Any]:
    return {
        "StringEquals": {
            "kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
        },
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": [
                {"Fn::GetAtt": [bucket_id, "Arn"]},
                _objects_of(bucket_id),
            ]
        },
    }


def test_grant_read_lists_exact_actions_on_the_zone_and_the_key(
    construct_variants: Synthesized,
) -> None:
    ids = _ids(construct_variants, "LakeSharedKey")
    policy = _grant_policy(construct_variants, "LakeSharedKey", "Reader")
    assert _statements(policy) == [
        {"Action": "s3:GetObject", "Effect": "Allow", "Resource": _objects_of(ids["curated"])},
        {
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["curated"], "Arn"]},
        },
        {
            "Action": "kms:Decrypt",
            "Condition": _s3_key_conditions(ids["curated"]),
            "Effect": "Allow",
            "Resource": IMPORTED_KEY_ARN,
        },
    ]


def test_grant_write_lists_exact_actions_scoped_to_the_key_pattern(
    construct_variants: Synthesized,
) -> None:
    ids = _ids(construct_variants, "LakeSharedKey")
    policy = _grant_policy(construct_variants, "LakeSharedKey", "Writer")
    events = {"Fn::Join": ["", [{"Fn::GetAtt": [ids["raw"], "Arn"]}, "/events/*"]]}
    assert _statements(policy) == [
        {
            "Action": sorted(WRITE_OBJECT_ACTIONS),
            "Effect": "Allow",
            "Resource": events,
        },
        {
            "Action": sorted(WRITE_BUCKET_ACTIONS),
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["raw"], "Arn"]},
        },
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": _s3_key_conditions(ids["raw"]),
            "Effect": "Allow",
            "Resource": IMPORTED_KEY_ARN,
        },
    ]
    assert WRITE_OBJECT_ACTIONS == (
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    )
    assert WRITE_BUCKET_ACTIONS == ("s3:GetBucketLocation", "s3:ListBucketMultipartUploads")


def test_grants_to_a_plain_role_go_into_one_managed_policy_attached_to_it(
    construct_variants: Synthesized,
) -> None:
    ids = _ids(construct_variants, "LakeSharedKey")
    stack = construct_variants.stack("LakeSharedKey")
    role_id = stack.get_logical_id(stack.node.find_child("PlainReader").node.default_child)
    inline = [
        p
        for p in construct_variants.resources("LakeSharedKey", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    assert inline == []
    policy = _grant_policy(construct_variants, "LakeSharedKey", "PlainReader")
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    objects = [
        resource
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st["Action"] == "s3:GetObject"
        for resource in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
    ]
    raw_events = {"Fn::Join": ["", [{"Fn::GetAtt": [ids["raw"], "Arn"]}, "/events/*"]]}
    assert sorted(objects, key=str) == sorted([raw_events, _objects_of(ids["curated"])], key=str)


def test_a_grant_acknowledges_its_object_wildcard_on_its_own_policy(
    construct_variants: Synthesized,
) -> None:
    ids = _ids(construct_variants, "LakeSharedKey")
    acknowledged = {
        (a.path, a.finding, a.reason)
        for a in acknowledged_findings(construct_variants.stack("LakeSharedKey"))
        if a.path.startswith(("LakeSharedKey/Reader", "LakeSharedKey/Writer"))
    }
    reason_read = (
        "SecureDataLake.grant_read: the grantee reads objects whose names are only known at "
        "run time; the wildcard is the key pattern '*' of the curated zone it was granted, and "
        "the actions are listed one by one."
    )
    reason_write = (
        reason_read.replace("grant_read", "grant_write")
        .replace("reads", "writes")
        .replace("'*' of the curated", "'events/*' of the raw")
    )
    assert acknowledged == {
        (
            "LakeSharedKey/Reader/GrantsPolicy",
            f"AwsSolutions-IAM5[Resource::<{ids['curated']}.Arn>/*]",
            reason_read,
        ),
        (
            "LakeSharedKey/Writer/GrantsPolicy",
            f"AwsSolutions-IAM5[Resource::<{ids['raw']}.Arn>/events/*]",
            reason_write,
        ),
    }


def test_a_grant_returns_the_iam_grant_with_its_statements() -> None:
    lake = _lake()
    role = cdk.aws_iam.Role(cdk.Stack.of(lake), "R", assumed_by=cdk.aws_iam.AccountRootPrincipal())
    grant = lake.grant_write("raw", role, "events/*")
    assert isinstance(grant, cdk.aws_iam.Grant)
    assert grant.success
    actions = [s.actions for s in grant.principal_statements]
    assert actions == [
        list(WRITE_OBJECT_ACTIONS),
        list(WRITE_BUCKET_ACTIONS),
        ["kms:GenerateDataKey", "kms:Decrypt"],
    ]


def test_a_grant_to_something_that_is_not_an_identity_is_refused() -> None:
    lake = _lake()
    with pytest.raises(ValueError, match=r"grantee=.*: an IAM role, user or group"):
        lake.grant_read("raw", cdk.aws_iam.ServicePrincipal("glue.amazonaws.com"))


def test_custom_zones_names_and_lifecycles(construct_variants: Synthesized) -> None:
    ids = _ids(construct_variants, "LakeCustomZones")
    resources = construct_variants.template_json("LakeCustomZones")["Resources"]
    names = {
        zone: resources[i]["Properties"].get("BucketName")
        for zone, i in ids.items()
        if zone != "key"
    }
    assert names == {
        "landing": "acme-ml-dev-landing",
        "raw": "acme-ml-dev-raw",
        "features": "acme-ml-dev-features",
        "logs": "acme-ml-dev-access-logs",
    }
    landing = _rules(construct_variants, "LakeCustomZones", ids["landing"])
    assert landing["tiering-and-expiry"]["ExpirationInDays"] == 14
    assert landing["tiering-and-expiry"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert landing["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 3
    }
    features = _rules(construct_variants, "LakeCustomZones", ids["features"])
    assert "Transitions" not in features["tiering-and-expiry"]  # a new zone gets the default
    raw = _rules(construct_variants, "LakeCustomZones", ids["raw"])
    assert [t["StorageClass"] for t in raw["tiering-and-expiry"]["Transitions"]] == [
        "STANDARD_IA",
        "GLACIER",
    ]
    logs = _rules(construct_variants, "LakeCustomZones", ids["logs"])
    assert logs["expire-access-logs"]["ExpirationInDays"] == 90


def test_without_an_endpoint_there_is_no_endpoint_restriction(
    construct_variants: Synthesized,
) -> None:
    ids = _ids(construct_variants, "LakeCustomZones")
    policy = _bucket_policy(construct_variants, "LakeCustomZones", ids["raw"])
    sids = {s.get("Sid") for s in policy["Statement"]}
    assert "DenyObjectAccessOutsideVpcEndpoint" not in sids
    assert {
        "DenyEncryptionOtherThanKms",
        "DenyKmsKeyOtherThanLakeKey",
        "DenyCustomerProvidedKeys",
    } <= sids


# ------------------------------------------------------------------------------ validation


def _lake(**props: Any) -> SecureDataLake:
    stack = cdk.Stack(cdk.App(), "Validation")
    return SecureDataLake(stack, "Lake", **props)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"zones": []}, "zones=[]: at least one zone"),
        ({"zones": "raw"}, "zones='raw': a list of strings, not a single string (e.g. ['raw'])"),
        ({"zones": ["raw", "Raw"]}, "zones='Raw': 1-20 characters: lowercase"),
        ({"zones": ["raw", "raw"]}, "zones='raw': each zone once (duplicate name)"),
        ({"zones": ["raw", "access-logs"]}, "zones='access-logs': not 'access-logs'"),
        ({"bucket_name_prefix": "My_Lake"}, "bucket_name_prefix='My_Lake': 3-51 characters"),
        ({"bucket_name_prefix": "xn--lake"}, "bucket_name_prefix='xn--lake'"),
        ({"bucket_name_prefix": "a" * 52}, "bucket_name_prefix='" + "a" * 52),
        ({"bucket_name_prefix": "lake-"}, "bucket_name_prefix='lake-'"),
        ({"lifecycle": {"bronze": ZoneLifecycle()}}, "lifecycle='bronze': a key naming one of"),
        (
            {"lifecycle": {"raw": ZoneLifecycle(infrequent_access_after_days=10)}},
            "lifecycle['raw'].infrequent_access_after_days=10: at least 30",
        ),
        (
            {
                "lifecycle": {
                    "raw": ZoneLifecycle(infrequent_access_after_days=60, glacier_after_days=70)
                }
            },
            "lifecycle['raw'].glacier_after_days=70: at least 30 days after",
        ),
        (
            {"lifecycle": {"raw": ZoneLifecycle(glacier_after_days=90, expire_after_days=90)}},
            "lifecycle['raw'].expire_after_days=90: more than the last transition (90 days)",
        ),
        (
            {"lifecycle": {"raw": ZoneLifecycle(noncurrent_versions_expire_after_days=0)}},
            "lifecycle['raw'].noncurrent_versions_expire_after_days=0: a whole number of days",
        ),
        ({"lifecycle": {"raw": {"expire_after_days": 3}}}, "a ZoneLifecycle"),
        ({"abort_incomplete_uploads_after_days": 0}, "abort_incomplete_uploads_after_days=0"),
        ({"access_log_retention_days": -1}, "access_log_retention_days=-1"),
        ({"log_retention_days": 42}, "log_retention_days=42: one of CloudWatch Logs' periods"),
        (
            {"endpoint_exempt_principal_arns": ["arn:aws:iam::1:role/x"]},
            "endpoint_exempt_principal_arns=['arn:aws:iam::1:role/x']: empty unless vpc_endpoint",
        ),
        (
            {"exempt_called_via": ["athena.amazonaws.com"]},
            "exempt_called_via=('athena.amazonaws.com',): unset unless vpc_endpoint",
        ),
        ({"auto_delete_objects": True}, "auto_delete_objects=True: False unless removal_policy"),
    ],
)
def test_invalid_props_are_refused_with_a_clear_error(props: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^SecureDataLake: invalid prop") as error:
        _lake(**props)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as error:
        _lake(
            zones=["raw", "raw"], bucket_name_prefix="UPPER", abort_incomplete_uploads_after_days=0
        )
    message = str(error.value)
    assert message.startswith("SecureDataLake: invalid props:")
    for prop in ("zones='raw'", "bucket_name_prefix='UPPER'", "abort_incomplete_uploads_after"):
        assert prop in message


def test_an_unknown_zone_in_a_grant_names_the_zones() -> None:
    lake = _lake()
    role = cdk.aws_iam.Role(cdk.Stack.of(lake), "R", assumed_by=cdk.aws_iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match=r"zone='gold': one of this lake's zones \(raw, curated"):
        lake.grant_read("gold", role)


def test_a_token_bucket_prefix_is_accepted() -> None:
    stack = cdk.Stack(cdk.App(), "TokenPrefix")
    SecureDataLake(stack, "Lake", bucket_name_prefix=f"lake-{stack.account}")


def test_an_endpoint_may_be_imported() -> None:
    stack = cdk.Stack(cdk.App(), "Imported")
    endpoint = ec2.GatewayVpcEndpoint.from_gateway_vpc_endpoint_id(stack, "E", "vpce-0abc")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=endpoint)
    assert lake.vpc_endpoint is endpoint


def _lake_with_endpoint(**props: Any) -> SecureDataLake:
    stack = cdk.Stack(cdk.App(), "Restricted")
    endpoint = ec2.GatewayVpcEndpoint.from_gateway_vpc_endpoint_id(stack, "E", "vpce-0abc")
    return SecureDataLake(stack, "Lake", vpc_endpoint=endpoint, **props)


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("*", "endpoint_exempt_principal_arns='*': an IAM role or user ARN of one account"),
        ("arn:aws:iam::*:role/etl-job", "'*' or a wildcard account would exempt everyone"),
        ("arn:aws:iam::111122223333:role/*", "a role name, or a name prefix of 3 or more"),
        ("arn:aws:iam::111122223333:user/a*", "(not 'a*'): too broad an exemption"),
        ("arn:aws:iam::111122223333:root", "an IAM role or user ARN of one account"),
        ("arn:aws:sts::111122223333:assumed-role/etl/s", "an IAM role or user ARN"),
    ],
)
def test_an_exemption_that_would_switch_the_endpoint_restriction_off_is_refused(
    arn: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=r"^SecureDataLake: invalid prop") as error:
        _lake_with_endpoint(endpoint_exempt_principal_arns=[arn])
    assert expected in str(error.value)
    lake = _lake_with_endpoint()
    with pytest.raises(ValueError, match=r"^SecureDataLake.exempt_from_endpoint_restriction: "):
        lake.exempt_from_endpoint_restriction(arn)
    assert lake.exempt_principal_arns == ()


def test_named_principals_and_prefixes_of_one_account_may_be_exempted() -> None:
    lake = _lake_with_endpoint(
        endpoint_exempt_principal_arns=[
            "arn:aws:iam::111122223333:role/etl-*",
            "arn:aws:iam::111122223333:role/service-role/firehose-delivery",
            "arn:aws-cn:iam::111122223333:user/ingest",
        ]
    )
    stack = cdk.Stack.of(lake)
    lake.exempt_from_endpoint_restriction(
        f"arn:{stack.partition}:iam::{stack.account}:role/mlbp-svc-*"
    )
    assert len(lake.exempt_principal_arns) == 4


def test_exempt_called_via_takes_service_principals_only() -> None:
    with pytest.raises(ValueError, match=r"exempt_called_via='\*': AWS service principals"):
        _lake_with_endpoint(exempt_called_via=["athena.amazonaws.com", "*"])
