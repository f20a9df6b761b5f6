"""Warehouse: the namespace's key, secret and logs; the private workgroup and its ceiling;
the Spectrum role's exact permissions; the setup function's exact permissions and custom
resources; every validation rule."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import (
    PrivateNetwork,
    RpuHoursLimit,
    SecureDataLake,
    Warehouse,
)
from ml_blueprints.constructs.serving.warehouse import (
    BUCKET_READ_ACTIONS,
    CATALOG_READ_ACTIONS,
    LOG_EXPORTS,
    OBJECT_READ_ACTIONS,
    is_valid_base_capacity,
)
from ml_blueprints.constructs.serving.warehouse_setup import USAGE_LIMIT_ACTIONS
from tests.conftest import Synthesized
from tests.constructs.scopes import fresh_scope

PARTITION = {"Ref": "AWS::Partition"}
REGION = {"Ref": "AWS::Region"}
ACCOUNT = {"Ref": "AWS::AccountId"}


def _one(synth: Synthesized, stack: str, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = synth.resources(stack, resource_type).items()
    return logical_id, resource


def _by_prefix(synth: Synthesized, stack: str, resource_type: str, prefix: str) -> tuple[str, Any]:
    [(logical_id, resource)] = [
        (k, v) for k, v in synth.resources(stack, resource_type).items() if k.startswith(prefix)
    ]
    return logical_id, resource


def _lake_output(synth: Synthesized, resource: str, attribute: str = "Arn") -> dict[str, Any]:
    """How the Serving stack refers to a DataLake resource (a weak cross-stack reference)."""
    outputs = synth.template_json("DataLake")["Outputs"]
    value = {"Ref": resource} if attribute == "Ref" else {"Fn::GetAtt": [resource, attribute]}
    [name] = [n for n, o in outputs.items() if o["Value"] == value and n.startswith("Publish")]
    return {
        "Fn::GetStackOutput": {
            "StackName": "mlbp-sbx-data-lake",
            "Region": REGION,
            "OutputName": name,
        }
    }


def _lake_id(synth: Synthesized, prefix: str, resource_type: str) -> str:
    return next(k for k in synth.resources("DataLake", resource_type) if k.startswith(prefix))


# -------------------------------------------------------------------------------- namespace


def test_namespace_is_encrypted_with_its_own_key_and_redshift_keeps_the_password(
    sandbox_project: Synthesized,
) -> None:
    _, namespace = _one(sandbox_project, "Serving", "AWS::RedshiftServerless::Namespace")
    key_id, key = _by_prefix(sandbox_project, "Serving", "AWS::KMS::Key", "WarehouseKey")
    role_id, _ = _by_prefix(sandbox_project, "Serving", "AWS::IAM::Role", "WarehouseSpectrumRole")
    props = namespace["Properties"]
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["KmsKeyId"] == key_arn
    assert key["Properties"]["EnableKeyRotation"] is True
    assert props["ManageAdminPassword"] is True
    assert props["AdminPasswordSecretKmsKeyId"] == key_arn
    assert "AdminUserPassword" not in props
    assert "password" not in json.dumps(sandbox_project.template_json("Serving")).replace(
        "AdminPassword", ""
    ).replace("ManageAdminPassword", "").lower().replace("adminpasswordsecret", "")
    assert props["AdminUsername"] == "warehouse_admin"
    assert props["DbName"] == "warehouse"
    assert props["NamespaceName"] == "mlbp-sbx-warehouse"
    assert (
        props["LogExports"] == list(LOG_EXPORTS) == ["connectionlog", "userlog", "useractivitylog"]
    )
    assert props["IamRoles"] == [{"Fn::GetAtt": [role_id, "Arn"]}]
    assert namespace["DeletionPolicy"] == "Delete"  # sandbox mode


def test_outside_sandbox_the_namespace_and_key_are_retained() -> None:
    stack = cdk.Stack(cdk.App(), "Retained", env=_ENV)
    warehouse = _warehouse(stack)
    key = warehouse.key.node.default_child
    for resource in (warehouse.namespace, key):
        assert resource.cfn_options.deletion_policy == cdk.CfnDeletionPolicy.RETAIN  # type: ignore[union-attr]
    # The workgroup holds no data: it goes with the stack.
    assert warehouse.workgroup.cfn_options.deletion_policy is None


# -------------------------------------------------------------------------------- workgroup


def test_workgroup_is_private_routed_through_the_vpc_and_smallest(
    sandbox_project: Synthesized,
) -> None:
    _, workgroup = _one(sandbox_project, "Serving", "AWS::RedshiftServerless::Workgroup")
    group_id, group = _one(sandbox_project, "Serving", "AWS::EC2::SecurityGroup")
    props = workgroup["Properties"]
    assert props["PubliclyAccessible"] is False
    assert props["EnhancedVpcRouting"] is True
    assert props["BaseCapacity"] == 4
    assert props["Port"] == 5439
    assert props["NamespaceName"] == props["WorkgroupName"] == "mlbp-sbx-warehouse"
    assert props["ConfigParameters"] == [
        {"ParameterKey": "require_ssl", "ParameterValue": "true"},
        {"ParameterKey": "enable_user_activity_logging", "ParameterValue": "true"},
        {"ParameterKey": "max_query_execution_time", "ParameterValue": "3600"},
    ]
    subnets = [
        _lake_output(sandbox_project, subnet, "Ref")["Fn::GetStackOutput"]["OutputName"]
        for subnet in sorted(
            k
            for k, r in sandbox_project.resources("DataLake", "AWS::EC2::Subnet").items()
            if k.startswith("NetworkVpcPrivateSubnet")
        )
    ]
    assert [s["Fn::GetStackOutput"]["OutputName"] for s in props["SubnetIds"]] == subnets
    assert len(subnets) == 3  # Redshift Serverless requires three AZs
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
    assert "SecurityGroupIngress" not in group["Properties"]  # no client until allowed
    assert group["Properties"]["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to the VPC's S3 gateway endpoint (enhanced VPC routing)",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


def test_a_runaway_query_stops_at_the_daily_rpu_hour_ceiling(
    sandbox_project: Synthesized,
) -> None:
    workgroup_id, _ = _one(sandbox_project, "Serving", "AWS::RedshiftServerless::Workgroup")
    _, limit = _one(sandbox_project, "Serving", "Custom::RedshiftUsageLimit")
    props = dict(limit["Properties"])
    assert props.pop("ServiceToken")["Fn::GetAtt"][0].startswith("WarehouseSetupFunction")
    assert props == {
        "ServiceTimeout": "480",
        "WorkgroupArn": {"Fn::GetAtt": [workgroup_id, "Workgroup.WorkgroupArn"]},
        "Amount": 32,
        "Period": "daily",
        "BreachAction": "deactivate",
    }


def test_non_default_props(construct_variants: Synthesized) -> None:
    stack = "ServingVariants"
    _, workgroup = _one(construct_variants, stack, "AWS::RedshiftServerless::Workgroup")
    assert workgroup["Properties"]["BaseCapacity"] == 8
    assert workgroup["Properties"]["Port"] == 5440
    assert {"ParameterKey": "max_query_execution_time", "ParameterValue": "600"} in workgroup[
        "Properties"
    ]["ConfigParameters"]
    _, namespace = _one(construct_variants, stack, "AWS::RedshiftServerless::Namespace")
    imported = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert namespace["Properties"]["KmsKeyId"] == imported
    assert namespace["Properties"]["AdminUsername"] == "team_admin"
    limits = sorted(
        (r["Properties"]["Period"], r["Properties"]["Amount"], r["Properties"]["BreachAction"])
        for r in construct_variants.resources(stack, "Custom::RedshiftUsageLimit").values()
    )
    assert limits == [("daily", 20, "deactivate"), ("weekly", 100, "emit-metric")]
    _, group = _by_prefix(construct_variants, stack, "AWS::EC2::SecurityGroup", "WarehouseSecurity")
    assert group["Properties"]["SecurityGroupIngress"] == [
        {
            "CidrIp": "10.20.0.0/16",
            "Description": "Analysts' SQL clients",
            "FromPort": 5440,
            "IpProtocol": "tcp",
            "ToPort": 5440,
        }
    ]
    _, schema = _one(construct_variants, stack, "Custom::RedshiftExternalSchema")
    assert (schema["Properties"]["SchemaName"], schema["Properties"]["CatalogDatabase"]) == (
        "curated",
        "team_lake",
    )


# ---------------------------------------------------------------------------- Spectrum role


def _policy_statements(synth: Synthesized, stack: str, prefix: str) -> list[dict[str, Any]]:
    _, policy = _by_prefix(synth, stack, "AWS::IAM::ManagedPolicy", prefix)
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_spectrum_reads_only_the_curated_and_analytics_zones_and_the_catalog_database(
    sandbox_project: Synthesized,
) -> None:
    statements = _policy_statements(sandbox_project, "Serving", "WarehouseSpectrumRoleGrantsPolicy")
    glue = ["arn:", PARTITION, ":glue:", REGION, ":", ACCOUNT]
    expected: list[dict[str, Any]] = [
        {
            "Action": sorted(CATALOG_READ_ACTIONS),
            "Effect": "Allow",
            "Resource": [
                {"Fn::Join": ["", [*glue, ":catalog"]]},
                {"Fn::Join": ["", [*glue, ":database/mlbp_sbx_lake"]]},
                {"Fn::Join": ["", [*glue, ":table/mlbp_sbx_lake/*"]]},
            ],
            "Sid": "ReadTheCatalogDatabase",
        }
    ]
    for zone in ("Curated", "Analytics"):
        bucket = _lake_output(
            sandbox_project, _lake_id(sandbox_project, f"Lake{zone}Bucket", "AWS::S3::Bucket")
        )
        expected += [
            {
                "Action": OBJECT_READ_ACTIONS[0],
                "Effect": "Allow",
                "Resource": {"Fn::Join": ["", [bucket, "/*"]]},
                "Sid": f"ReadThe{zone}Zone",
            },
            {
                "Action": sorted(BUCKET_READ_ACTIONS),
                "Effect": "Allow",
                "Resource": bucket,
                "Sid": f"ListThe{zone}Zone",
            },
        ]
    lake_key = _lake_output(sandbox_project, _lake_id(sandbox_project, "LakeKey", "AWS::KMS::Key"))
    expected.append(
        {
            "Action": "kms:Decrypt",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {"Fn::Join": ["", ["s3.", REGION, ".amazonaws.com"]]}
                }
            },
            "Effect": "Allow",
            "Resource": lake_key,
            "Sid": "DecryptTheLake",
        }
    )
    assert statements == expected
    text = json.dumps(statements)
    raw = _lake_id(sandbox_project, "LakeRawBucket", "AWS::S3::Bucket")
    assert raw not in text  # not the raw zone
    assert not any(
        ":Put" in a or ":Delete" in a or ":Create" in a
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    )


def test_only_redshift_for_this_accounts_serverless_users_can_assume_spectrum(
    sandbox_project: Synthesized,
) -> None:
    _, role = _by_prefix(sandbox_project, "Serving", "AWS::IAM::Role", "WarehouseSpectrumRole")
    props = role["Properties"]
    # Named with the lake's exempt prefix: Spectrum reads S3 from outside the VPC.
    assert props["RoleName"] == "mlbp-sbx-svc-spectrum"
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringLike": {
                    "sts:ExternalId": {
                        "Fn::Join": [
                            "",
                            [
                                "arn:", PARTITION, ":redshift:", REGION, ":", ACCOUNT,
                                ":dbuser:serverless-", ACCOUNT, "-*/*",
                            ],
                        ]
                    }
                }
            },
            "Effect": "Allow",
            "Principal": {"Service": "redshift.amazonaws.com"},
        }
    ]  # fmt: skip
    assert "Policies" not in props  # grants live in the managed policy


# ------------------------------------------------------------------------- setup function


def test_setup_function_can_do_exactly_what_the_two_resources_need(
    sandbox_project: Synthesized,
) -> None:
    statements = _policy_statements(sandbox_project, "Serving", "WarehouseSetupRoleGrantsPolicy")
    workgroup_id, _ = _one(sandbox_project, "Serving", "AWS::RedshiftServerless::Workgroup")
    namespace_id, _ = _one(sandbox_project, "Serving", "AWS::RedshiftServerless::Namespace")
    key_id, _ = _by_prefix(sandbox_project, "Serving", "AWS::KMS::Key", "WarehouseKey")
    log_id, _ = _one(sandbox_project, "Serving", "AWS::Logs::LogGroup")
    by_sid = {s.get("Sid", "logs"): s for s in statements}
    assert by_sid["RunSetupSqlInTheWorkgroup"]["Action"] == "redshift-data:ExecuteStatement"
    assert by_sid["RunSetupSqlInTheWorkgroup"]["Resource"] == {
        "Fn::GetAtt": [workgroup_id, "Workgroup.WorkgroupArn"]
    }
    assert by_sid["FollowItsOwnStatements"] == {
        "Action": ["redshift-data:CancelStatement", "redshift-data:DescribeStatement"],
        "Condition": {
            "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
        },
        "Effect": "Allow",
        "Resource": "*",
        "Sid": "FollowItsOwnStatements",
    }
    assert by_sid["FindTheAdminSecret"]["Resource"] == {
        "Fn::GetAtt": [namespace_id, "Namespace.NamespaceArn"]
    }
    assert by_sid["ReadTheAdminSecret"]["Action"] == "secretsmanager:GetSecretValue"
    assert by_sid["ReadTheAdminSecret"]["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:", PARTITION, ":secretsmanager:", REGION, ":", ACCOUNT,
                ":secret:redshift!mlbp-sbx-warehouse-warehouse_admin-??????",
            ],
        ]
    }  # fmt: skip
    assert by_sid["DecryptTheAdminSecret"]["Action"] == "kms:Decrypt"
    assert by_sid["DecryptTheAdminSecret"]["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert by_sid["DecryptTheAdminSecret"]["Condition"] == {
        "StringEquals": {
            "kms:ViaService": {"Fn::Join": ["", ["secretsmanager.", REGION, ".amazonaws.com"]]}
        }
    }
    assert by_sid["ManageUsageLimits"]["Action"] == sorted(USAGE_LIMIT_ACTIONS)
    assert by_sid["logs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert by_sid["logs"]["Resource"] == {"Fn::GetAtt": [log_id, "Arn"]}
    assert len(statements) == 7


def test_setup_function_and_its_resources(sandbox_project: Synthesized) -> None:
    function_id, function = _one(sandbox_project, "Serving", "AWS::Lambda::Function")
    log_id, log_group = _one(sandbox_project, "Serving", "AWS::Logs::LogGroup")
    key_id, _ = _by_prefix(sandbox_project, "Serving", "AWS::KMS::Key", "WarehouseKey")
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Handler"] == "redshift_setup.handler"
    assert props["Timeout"] == 300
    assert props["ReservedConcurrentExecutions"] == 2
    assert "VpcConfig" not in props  # it calls AWS APIs only (acknowledged)
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_id}}
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert log_group["Properties"]["RetentionInDays"] == 365
    # The asset holds the handler only.
    asset = sandbox_project.outdir / f"asset.{props['Code']['S3Key'].split('.')[0]}"
    assert sorted(p.name for p in asset.iterdir()) == ["redshift_setup.py"]

    workgroup_id, _ = _one(sandbox_project, "Serving", "AWS::RedshiftServerless::Workgroup")
    role_id, _ = _by_prefix(sandbox_project, "Serving", "AWS::IAM::Role", "WarehouseSpectrumRole")
    schema_id, schema = _one(sandbox_project, "Serving", "Custom::RedshiftExternalSchema")
    assert schema["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": [function_id, "Arn"]},
        "ServiceTimeout": "480",
        "WorkgroupName": {"Fn::GetAtt": [workgroup_id, "Workgroup.WorkgroupName"]},
        "NamespaceName": "mlbp-sbx-warehouse",
        "Database": "warehouse",
        "SchemaName": "lake",
        "CatalogDatabase": "mlbp_sbx_lake",
        "IamRoleArn": {"Fn::GetAtt": [role_id, "Arn"]},
    }
    # Created after, and deleted before, the permissions and the log group it needs.
    setup_policy, _ = _by_prefix(
        sandbox_project, "Serving", "AWS::IAM::ManagedPolicy", "WarehouseSetupRoleGrantsPolicy"
    )
    spectrum_policy, _ = _by_prefix(
        sandbox_project, "Serving", "AWS::IAM::ManagedPolicy", "WarehouseSpectrumRoleGrantsPolicy"
    )
    assert set(schema["DependsOn"]) == {setup_policy, spectrum_policy, log_id}
    for limit in sandbox_project.resources("Serving", "Custom::RedshiftUsageLimit").values():
        assert set(limit["DependsOn"]) == {setup_policy, log_id}
    _ = schema_id


# ------------------------------------------------------------------------------ validation

_ENV = cdk.Environment(account="111122223333", region="eu-west-1")


def _base(stack: cdk.Stack, max_azs: int = 3) -> tuple[SecureDataLake, PrivateNetwork]:
    stack.node.set_context(
        "availability-zones:account=111122223333:region=eu-west-1",
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    )
    network = PrivateNetwork(stack, "Network", max_azs=max_azs)
    return SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint), network


def _warehouse(stack: cdk.Stack, **props: Any) -> Warehouse:
    lake, network = _base(stack, props.pop("max_azs", 3))
    props.setdefault("catalog_database_name", "team_lake")
    return Warehouse(stack, "Warehouse", lake=lake, network=network, **props)


@pytest.fixture(scope="module")
def three_azs() -> tuple[SecureDataLake, PrivateNetwork]:
    """A lake and a three-AZ network shared by the tests of refused props (see
    tests/constructs/scopes.py)."""
    return _base(cdk.Stack(cdk.App(), "Bad", env=_ENV))


@pytest.mark.parametrize("rpus", [4, 8, 16, 24, 128, 512, 544, 1024])
def test_accepted_base_capacities(rpus: int) -> None:
    assert is_valid_base_capacity(rpus)


@pytest.mark.parametrize("rpus", [0, 2, 5, 12, 520, 1000, 1056, 8.0, True])
def test_refused_base_capacities(rpus: Any) -> None:
    assert not is_valid_base_capacity(rpus)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"max_azs": 2}, "network='2 private subnets': a PrivateNetwork with private subnets in"),
        ({"base_capacity": 2}, "base_capacity=2: 4, a multiple of 8 from 8 to 512"),
        ({"base_capacity": 12}, "base_capacity=12: 4, a multiple of 8"),
        ({"namespace_name": "Team_WH"}, "namespace_name='Team_WH': 3-64 characters"),
        ({"workgroup_name": "wg"}, "workgroup_name='wg': 3-64 characters"),
        ({"database_name": "dev-db"}, "database_name='dev-db': a lowercase identifier"),
        ({"external_schema_name": "Lake"}, "external_schema_name='Lake': a lowercase identifier"),
        ({"catalog_database_name": "x;y"}, "catalog_database_name='x;y': a lowercase identifier"),
        ({"admin_username": "admin"}, "admin_username='admin': a lowercase name"),
        ({"spectrum_zones": ["gold"]}, "spectrum_zones=('gold',): one or more distinct zones"),
        ({"spectrum_zones": []}, "spectrum_zones=(): one or more distinct zones"),
        ({"usage_limits": []}, "usage_limits=(): at least one RpuHoursLimit"),
        (
            {"usage_limits": [RpuHoursLimit(), RpuHoursLimit(rpu_hours=64)]},
            "usage_limits=('daily', 'daily'): at most one limit per period",
        ),
        (
            {"usage_limits": [RpuHoursLimit(rpu_hours=0, period="hourly", breach_action="stop")]},
            "usage_limits[0].rpu_hours=0: a whole number of RPU-hours",
        ),
        ({"max_query_seconds": 30}, "max_query_seconds=30: 60 to 86399 seconds"),
        ({"port": 5439 + 100}, "port=5539: 5431-5455 or 8191-8215"),
        ({"log_retention_days": 10}, "log_retention_days=10: one of CloudWatch Logs' periods"),
    ],
)
def test_each_invalid_prop_is_named(
    three_azs: tuple[SecureDataLake, PrivateNetwork], props: dict[str, Any], expected: str
) -> None:
    props = {"catalog_database_name": "team_lake", **props}
    max_azs = props.pop("max_azs", 3)
    lake, network = three_azs if max_azs == 3 else _base(cdk.Stack(cdk.App(), "Bad", env=_ENV), 2)
    scope = fresh_scope(lake)
    with pytest.raises(
        ValueError, match=rf"^Warehouse {scope.node.path}/Warehouse: invalid prop"
    ) as error:
        Warehouse(scope, "Warehouse", lake=lake, network=network, **props)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once(
    three_azs: tuple[SecureDataLake, PrivateNetwork],
) -> None:
    lake, network = three_azs
    with pytest.raises(ValueError) as error:
        Warehouse(
            fresh_scope(lake),
            "Warehouse",
            lake=lake,
            network=network,
            catalog_database_name="team_lake",
            usage_limits=[RpuHoursLimit(rpu_hours=0, period="hourly", breach_action="stop")],
            base_capacity=3,
            port=1,
        )
    message = str(error.value)
    for expected in (
        "usage_limits[0].rpu_hours=0",
        "usage_limits[0].period='hourly': one of daily, weekly, monthly",
        "usage_limits[0].breach_action='stop': one of log, emit-metric, deactivate",
        "base_capacity=3",
        "port=1",
    ):
        assert expected in message


def test_a_spectrum_role_in_another_stack_must_carry_the_lakes_exempt_prefix() -> None:
    app = cdk.App()
    lake_stack = cdk.Stack(app, "Lake", env=_ENV)
    lake_stack.node.set_context(
        "availability-zones:account=111122223333:region=eu-west-1",
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    )
    network = PrivateNetwork(lake_stack, "Network", max_azs=3)
    lake = SecureDataLake(
        lake_stack,
        "Lake",
        vpc_endpoint=network.s3_endpoint,
        exempt_role_name_prefixes=["team-svc-"],
    )
    serving = cdk.Stack(app, "Serving", env=_ENV)
    with pytest.raises(ValueError, match="spectrum_role_name='analyst-spectrum': a name starting"):
        Warehouse(
            serving,
            "Warehouse",
            lake=lake,
            network=network,
            catalog_database_name="team_lake",
            spectrum_role_name="analyst-spectrum",
        )
    generated = Warehouse(
        serving, "Generated", lake=lake, network=network, catalog_database_name="team_lake"
    )
    assert generated.spectrum_role.node.default_child.role_name.startswith("team-svc-spectrum-")  # type: ignore[union-attr]
