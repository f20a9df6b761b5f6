"""The project's own rule pack (ml_blueprints/rules): every rule fires on a bad resource and
passes on the project's; the pack runs as a validation plugin next to cdk-nag's, fails
synthesis, and its findings are acknowledged like any other."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_redshiftserverless as redshiftserverless

from ml_blueprints.compliance import acknowledge, apply_rule_packs
from ml_blueprints.report import read_validation_report
from ml_blueprints.rules import CHECKED_TYPES, PACK, RULES, evaluate
from ml_blueprints.rules.base import is_intrinsic, literal_bool
from tests.conftest import FEATURE_FLAGS, Synthesized

#: Types the project synthesizes today (the others are for the next layers).
PROJECT_TYPES = {
    "AWS::RedshiftServerless::Workgroup",
    "AWS::RedshiftServerless::Namespace",
    "AWS::DynamoDB::GlobalTable",
    "AWS::DMS::ReplicationConfig",
    "AWS::DMS::Endpoint",
    "AWS::IoT::Policy",
    "AWS::IoT::TopicRule",
    "AWS::Batch::JobDefinition",
    "AWS::Batch::ComputeEnvironment",
    "AWS::DataSync::Task",
    "AWS::DataSync::LocationSMB",
}

#: Rules that apply to one kind of a type's resources: the project resource to start from.
GOOD_FOR_RULE: dict[str, tuple[str, str]] = {
    # (property, value) the project's resource must have
    "DMSEndpointSsl": ("EngineName", "mysql"),
    "DMSS3EndpointEncrypted": ("EngineName", "s3"),
}

#: Compliant examples of the types the project does not create yet.
GOOD_EXAMPLES: dict[str, dict[str, Any]] = {
    "AWS::Budgets::Budget": {
        "Budget": {"BudgetType": "COST", "TimeUnit": "MONTHLY"},
        "NotificationsWithSubscribers": [
            {
                "Notification": {"NotificationType": "ACTUAL", "Threshold": 80},
                "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}],
            }
        ],
    },
    "AWS::CloudTrail::EventDataStore": {"KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
    "AWS::Glue::MLTransform": {
        "TransformEncryption": {
            "MLUserDataEncryption": {
                "MLUserDataEncryptionMode": "SSE-KMS",
                "KmsKeyId": {"Ref": "Key"},
            },
            "TaskRunSecurityConfigurationName": "lake-security",
        }
    },
}


def _set(properties: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``properties`` with ``path`` (dotted; list indexes as numbers) set to
    ``value``, or removed when ``value`` is ``...``."""
    result = copy.deepcopy(properties)
    target: Any = result
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    if value is ...:
        target.pop(last, None)
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


def _config(value: str | None) -> list[dict[str, str]]:
    parameters = [{"ParameterKey": "max_query_execution_time", "ParameterValue": "3600"}]
    return parameters if value is None else [*parameters, value]  # type: ignore[list-item]


#: rule -> (description, path, bad value): each turns a compliant resource into a bad one.
BAD: dict[str, list[tuple[str, str, Any]]] = {
    "RedshiftServerlessWorkgroupNotPublic": [
        ("public", "PubliclyAccessible", True),
        ("public as text", "PubliclyAccessible", "true"),
        ("unverifiable", "PubliclyAccessible", {"Ref": "Public"}),
    ],
    "RedshiftServerlessWorkgroupEnhancedVpcRouting": [
        ("off", "EnhancedVpcRouting", False),
        ("default (off)", "EnhancedVpcRouting", ...),
    ],
    "RedshiftServerlessWorkgroupInVpcSubnets": [
        ("default VPC", "SubnetIds", ...),
        ("no subnets", "SubnetIds", []),
    ],
    "RedshiftServerlessWorkgroupRequireSsl": [
        (
            "ssl off",
            "ConfigParameters",
            _config({"ParameterKey": "require_ssl", "ParameterValue": "false"}),
        ),  # type: ignore[arg-type]
        ("default", "ConfigParameters", _config(None)),
    ],
    "RedshiftServerlessWorkgroupUserActivityLogging": [
        ("not enabled", "ConfigParameters", _config(None)),
    ],
    "RedshiftServerlessNamespaceCustomerManagedKey": [
        ("no key", "KmsKeyId", ...),
        ("aws owned", "KmsKeyId", "AWS_OWNED_KMS_KEY"),
        ("aws managed alias", "KmsKeyId", "alias/aws/redshift"),
        (
            "aws managed alias arn",
            "KmsKeyId",
            "arn:aws:kms:eu-west-1:111122223333:alias/aws/redshift",
        ),
    ],
    "RedshiftServerlessNamespaceAuditLogging": [
        ("connections only", "LogExports", ["connectionlog"]),
        ("none", "LogExports", ...),
    ],
    "RedshiftServerlessNamespaceNoPlaintextPassword": [
        ("literal password", "AdminUserPassword", "Hunter2-password"),
    ],
    "RedshiftServerlessNamespaceNonDefaultAdmin": [
        ("admin", "AdminUsername", "admin"),
        ("awsuser", "AdminUsername", "AWSUser"),
        ("none", "AdminUsername", ...),
    ],
    "DynamoDBGlobalTablePITR": [
        ("off", "Replicas.0.PointInTimeRecoverySpecification", ...),
        (
            "disabled",
            "Replicas.0.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",
            False,
        ),
        ("no replicas", "Replicas", []),
    ],
    "DynamoDBGlobalTableCustomerManagedKey": [
        ("replica without key", "Replicas.0.SSESpecification", ...),
        ("aws-managed alias", "Replicas.0.SSESpecification.KMSMasterKeyId", "alias/aws/dynamodb"),
        (
            "aws-managed alias arn",
            "Replicas.0.SSESpecification.KMSMasterKeyId",
            "arn:aws:kms:us-east-1:123456789012:alias/aws/dynamodb",
        ),
        (
            # kms.Alias.from_alias_name(stack, ..., "alias/aws/dynamodb").key_arn
            "aws-managed alias arn joined",
            "Replicas.0.SSESpecification.KMSMasterKeyId",
            {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":kms:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":alias/aws/dynamodb",
                    ],
                ]
            },
        ),
        (
            "aws-managed alias arn substituted",
            "Replicas.0.SSESpecification.KMSMasterKeyId",
            {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}::alias/aws/dynamodb"},
        ),
        ("owned key", "SSESpecification.SSEEnabled", False),
        ("no sse", "SSESpecification", ...),
    ],
    "BudgetNotifiesSubscribers": [
        ("no notifications", "NotificationsWithSubscribers", ...),
        ("nobody subscribed", "NotificationsWithSubscribers.0.Subscribers", []),
    ],
    "CloudTrailEventDataStoreCustomerManagedKey": [("no key", "KmsKeyId", ...)],
    "CloudTrailEventDataStoreTerminationProtection": [
        ("unprotected", "TerminationProtectionEnabled", False)
    ],
    "DMSReplicationConfigEncrypted": [("no key", "ComputeConfig.KmsKeyId", ...)],
    "DMSReplicationConfigInVpc": [
        ("default VPC", "ComputeConfig.ReplicationSubnetGroupId", ...),
        ("default security group", "ComputeConfig.VpcSecurityGroupIds", []),
    ],
    "DMSEndpointSsl": [("plain", "SslMode", "none"), ("default (plain)", "SslMode", ...)],
    "DMSEndpointNoPlaintextPassword": [("password", "Password", "Hunter2-password")],
    "DMSS3EndpointEncrypted": [
        ("SSE-S3", "S3Settings.EncryptionMode", "SSE_S3"),
        ("no key", "S3Settings.ServerSideEncryptionKmsKeyId", ...),
    ],
    "IoTPolicyNoWildcards": [
        ("any action", "PolicyDocument.Statement.1.Action", "iot:*"),
        ("any topic", "PolicyDocument.Statement.1.Resource", "arn:aws:iot:eu-west-1:1:topic/*"),
        (
            "multi-level topic wildcard",
            "PolicyDocument.Statement.1.Resource",
            "arn:aws:iot:eu-west-1:1:topicfilter/devices/#",
        ),
        ("not-action", "PolicyDocument.Statement.1.NotAction", "iot:Subscribe"),
        ("no statements", "PolicyDocument.Statement", []),
    ],
    "IoTTopicRuleErrorAction": [("none", "TopicRulePayload.ErrorAction", ...)],
    "IoTTopicRuleSqlVersion": [
        ("beta", "TopicRulePayload.AwsIotSqlVersion", "2015-10-08"),
        ("default", "TopicRulePayload.AwsIotSqlVersion", ...),
    ],
    "BatchJobDefinitionNotPrivileged": [("privileged", "ContainerProperties.Privileged", True)],
    "BatchJobDefinitionReadOnlyRoot": [
        ("writable", "ContainerProperties.ReadonlyRootFilesystem", False),
        ("default", "ContainerProperties.ReadonlyRootFilesystem", ...),
    ],
    "BatchJobDefinitionNonRootUser": [
        ("root", "ContainerProperties.User", "root"),
        ("uid 0", "ContainerProperties.User", "0:0"),
        ("default (root)", "ContainerProperties.User", ...),
    ],
    "BatchJobDefinitionNoPublicIp": [
        ("public", "ContainerProperties.NetworkConfiguration.AssignPublicIp", "ENABLED")
    ],
    "BatchJobDefinitionLogging": [("none", "ContainerProperties.LogConfiguration", ...)],
    "BatchComputeEnvironmentInVpc": [
        ("no subnets", "ComputeResources.Subnets", ...),
        ("no security groups", "ComputeResources.SecurityGroupIds", []),
    ],
    "DataSyncTaskVerified": [("unverified", "Options.VerifyMode", "NONE")],
    "DataSyncTaskLogged": [
        ("no log group", "CloudWatchLogGroupArn", ...),
        ("logging off", "Options.LogLevel", "OFF"),
    ],
    "DataSyncTaskKeepsDeletedFiles": [
        ("mirrors deletions", "Options.PreserveDeletedFiles", "REMOVE")
    ],
    "DataSyncSmbNoPlaintextPassword": [("password", "Password", "Hunter2-password")],
    "GlueMLTransformEncrypted": [
        (
            "disabled",
            "TransformEncryption.MLUserDataEncryption.MLUserDataEncryptionMode",
            "DISABLED",
        ),
        ("no key", "TransformEncryption.MLUserDataEncryption.KmsKeyId", ...),
        ("no security configuration", "TransformEncryption.TaskRunSecurityConfigurationName", ...),
    ],
}


def _project_resources(apps: list[Synthesized], resource_type: str) -> list[dict[str, Any]]:
    found = []
    for synth in apps:
        for template in synth.outdir.glob("*.template.json"):
            for resource in json.loads(template.read_text())["Resources"].values():
                if resource["Type"] == resource_type:
                    found.append(resource.get("Properties", {}))
    return found


def _good(apps: list[Synthesized], resource_type: str, rule: str = "") -> dict[str, Any]:
    if resource_type in PROJECT_TYPES:
        resources = _project_resources(apps, resource_type)
        if rule in GOOD_FOR_RULE:
            key, value = GOOD_FOR_RULE[rule]
            resources = [r for r in resources if r.get(key) == value]
        return resources[0]
    return GOOD_EXAMPLES[resource_type]


def test_every_rule_has_bad_cases_and_every_type_a_good_one() -> None:
    assert {rule.name for rule in RULES} == set(BAD)
    assert set(GOOD_EXAMPLES) | PROJECT_TYPES == CHECKED_TYPES
    assert all(rule.finding == f"{PACK}-{rule.name}" for rule in RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_every_rule_passes_on_the_projects_resources(
    rule: Any, all_apps: list[Synthesized]
) -> None:
    resources = _project_resources(all_apps, rule.resource_type)
    if rule.resource_type in PROJECT_TYPES:
        assert resources, f"the project no longer creates {rule.resource_type}"
    else:
        resources = [*resources, GOOD_EXAMPLES[rule.resource_type]]
    for properties in resources:
        assert rule.check(properties), json.dumps(properties)[:500]


@pytest.mark.parametrize(
    ("rule", "case"),
    [(rule, case) for rule in RULES for case in BAD[rule.name]],
    ids=lambda value: value.name if hasattr(value, "name") else value[0],
)
def test_every_rule_fires_on_a_bad_resource(
    rule: Any, case: tuple[str, str, Any], all_apps: list[Synthesized]
) -> None:
    _, path, value = case
    good = _good(all_apps, rule.resource_type, rule.name)
    assert rule.check(good)
    bad = _set(good, path, value)
    assert not rule.check(bad)
    template = {"Resources": {"Bad": {"Type": rule.resource_type, "Properties": bad}}}
    assert rule.finding in {f.rule.finding for f in evaluate(template)}


@pytest.mark.parametrize(
    "key",
    [
        {"Fn::GetAtt": ["ResultsKey", "Arn"]},
        {"Ref": "ResultsKey"},
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/team-results",
        "alias/aws-team/results",
        "arn:aws:kms:eu-west-1:111122223333:alias/team-results",
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":kms:eu-west-1::alias/team"]]},
        {"Fn::Sub": ["arn:${P}:kms:eu-west-1::key/${K}", {"P": "aws", "K": {"Ref": "Key"}}]},
    ],
    ids=json.dumps,
)
def test_the_global_table_key_rule_accepts_customer_managed_keys(
    key: Any, all_apps: list[Synthesized]
) -> None:
    [rule] = [r for r in RULES if r.name == "DynamoDBGlobalTableCustomerManagedKey"]
    good = _good(all_apps, rule.resource_type, rule.name)
    assert rule.check(_set(good, "Replicas.0.SSESpecification.KMSMasterKeyId", key))


def test_evaluate_checks_only_the_types_it_knows_and_names_each_resource() -> None:
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Workgroup": {"Type": "AWS::RedshiftServerless::Workgroup"},  # no Properties
        }
    }
    findings = [(f.rule.name, f.logical_id) for f in evaluate(template)]
    assert findings == [
        ("RedshiftServerlessWorkgroupEnhancedVpcRouting", "Workgroup"),
        ("RedshiftServerlessWorkgroupInVpcSubnets", "Workgroup"),
        ("RedshiftServerlessWorkgroupRequireSsl", "Workgroup"),
        ("RedshiftServerlessWorkgroupUserActivityLogging", "Workgroup"),
    ]


def test_helpers_read_literals_and_intrinsics() -> None:
    assert [literal_bool(v) for v in (True, "FALSE", "yes", None, {"Ref": "X"})] == [
        True,
        False,
        None,
        None,
        None,
    ]
    assert is_intrinsic({"Fn::ImportValue": "x"}) and is_intrinsic({"Ref": "X"})
    assert not is_intrinsic({"Key": "x"}) and not is_intrinsic("arn:aws:kms:...")


# ------------------------------------------------------------------ the pack as a plugin


def _careless_app(outdir: Path) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(context=FEATURE_FLAGS, outdir=str(outdir))
    stack = cdk.Stack(app, "Careless")
    redshiftserverless.CfnWorkgroup(
        stack,
        "Workgroup",
        workgroup_name="careless",
        publicly_accessible=True,
        enhanced_vpc_routing=True,
        subnet_ids=["subnet-0123456789abcdef0"],
        config_parameters=[
            redshiftserverless.CfnWorkgroup.ConfigParameterProperty(
                parameter_key=key, parameter_value="true"
            )
            for key in ("require_ssl", "enable_user_activity_logging")
        ],
    )
    dynamodb.TableV2(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    return app, stack


def test_the_pack_fails_synthesis_and_names_each_construct(tmp_path: Path) -> None:
    app, _ = _careless_app(tmp_path)
    apply_rule_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    open_findings = read_validation_report(tmp_path).open_findings[PACK]
    assert sorted(open_findings) == [
        "MlBlueprints-DynamoDBGlobalTableCustomerManagedKey at Careless/Table/Resource",
        "MlBlueprints-DynamoDBGlobalTablePITR at Careless/Table/Resource",
        "MlBlueprints-RedshiftServerlessWorkgroupNotPublic at Careless/Workgroup",
    ]
    report = json.loads((tmp_path / "validation-report.json").read_text())
    [plugin] = [p for p in report["pluginReports"] if p["pluginName"] == PACK]
    assert plugin["conclusion"] == "failure"
    assert {v["severity"] for v in plugin["violations"]} == {"error"}


def test_its_findings_are_acknowledged_like_any_other(tmp_path: Path) -> None:
    app, stack = _careless_app(tmp_path)
    table = stack.node.find_child("Table")
    for finding in (
        "MlBlueprints-DynamoDBGlobalTablePITR",
        "MlBlueprints-DynamoDBGlobalTableCustomerManagedKey",
    ):
        acknowledge(
            table,
            finding,
            "A test table holding nothing, to show that this pack's findings are "
            "acknowledged through the project's one helper like cdk-nag's.",
        )
    apply_rule_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()  # the public workgroup is still open
    summary = read_validation_report(tmp_path)
    assert summary.open_findings[PACK] == [
        "MlBlueprints-RedshiftServerlessWorkgroupNotPublic at Careless/Workgroup"
    ]
    assert sorted((a.pack, a.rule, a.acknowledged_at) for a in summary.acknowledged) == [
        (PACK, "MlBlueprints-DynamoDBGlobalTableCustomerManagedKey", "Careless/Table"),
        (PACK, "MlBlueprints-DynamoDBGlobalTablePITR", "Careless/Table"),
    ]
