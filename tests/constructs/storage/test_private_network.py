"""PrivateNetwork: isolated subnets, free gateway endpoints, encrypted flow logs."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import PrivateNetwork
from ml_blueprints.constructs.storage.private_network import private_subnet_mask
from tests.conftest import Synthesized


def _one(synth: Synthesized, stack_id: str, resource_type: str) -> dict[str, Any]:
    found = synth.resources(stack_id, resource_type)
    assert len(found) == 1, f"{resource_type}: {list(found)}"
    return next(iter(found.values()))


def test_default_vpc_has_two_isolated_subnets_and_no_route_out(project: Synthesized) -> None:
    vpc = _one(project, "DataLake", "AWS::EC2::VPC")
    assert vpc["Properties"]["CidrBlock"] == "10.0.0.0/16"
    subnets = project.resources("DataLake", "AWS::EC2::Subnet").values()
    assert len(subnets) == 2
    assert {s["Properties"]["MapPublicIpOnLaunch"] for s in subnets} == {False}
    azs = [s["Properties"]["AvailabilityZone"] for s in subnets]
    assert azs[0] != azs[1]
    for absent in (
        "AWS::EC2::NatGateway",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::Route",
    ):
        assert not project.resources("DataLake", absent), absent


def test_gateway_endpoints_for_s3_and_dynamodb_on_the_private_route_tables(
    project: Synthesized,
) -> None:
    endpoints = project.resources("DataLake", "AWS::EC2::VPCEndpoint").values()
    services = {}
    for endpoint in endpoints:
        props = endpoint["Properties"]
        assert props["VpcEndpointType"] == "Gateway"
        service = props["ServiceName"]["Fn::Join"][1][-1]
        services[service] = props["RouteTableIds"]
    assert set(services) == {".s3", ".dynamodb"}
    route_tables = set(project.resources("DataLake", "AWS::EC2::RouteTable"))
    for ids in services.values():
        assert {r["Ref"] for r in ids} == route_tables


def test_the_s3_endpoint_is_exposed(project: Synthesized) -> None:
    network: PrivateNetwork = project.stack("DataLake").network
    assert network.s3_endpoint.node.id == "S3Endpoint"
    assert network.dynamodb_endpoint.node.id == "DynamoDbEndpoint"
    assert network.interface_endpoints == {}


def test_flow_logs_capture_all_traffic_to_an_encrypted_log_group(project: Synthesized) -> None:
    stack = project.stack("DataLake")
    flow_log = _one(project, "DataLake", "AWS::EC2::FlowLog")["Properties"]
    assert flow_log["ResourceType"] == "VPC"
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    group_id = stack.get_logical_id(stack.network.flow_log_group.node.default_child)
    group = project.template_json("DataLake")["Resources"][group_id]["Properties"]
    assert flow_log["LogGroupName"] == {"Ref": group_id}
    key_id = stack.get_logical_id(stack.network.key.node.default_child)
    assert group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert group["RetentionInDays"] == 365
    key = project.template_json("DataLake")["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    logs_statement = next(
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount"
    )
    assert "kms:EncryptionContext:aws:logs:arn" in logs_statement["Condition"]["ArnLike"]


def test_flow_log_role_is_confined_to_this_account_and_its_log_group(
    project: Synthesized,
) -> None:
    stack = project.stack("DataLake")
    role_id = stack.get_logical_id(stack.network.flow_log_role.node.default_child)
    role = project.template_json("DataLake")["Resources"][role_id]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "aws:SourceArn" in trust["Condition"]["ArnLike"]
    assert "Policies" not in role  # no inline policy
    [policy] = project.resources("DataLake", "AWS::IAM::ManagedPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    group_id = stack.get_logical_id(stack.network.flow_log_group.node.default_child)
    assert statement["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}
    assert sorted(statement["Action"]) == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]


def test_the_default_security_group_is_closed(project: Synthesized) -> None:
    assert len(project.resources("DataLake", "Custom::VpcRestrictDefaultSG")) == 1


def test_nat_gateways_only_when_asked_with_public_subnets_without_public_ips(
    construct_variants: Synthesized,
) -> None:
    assert len(construct_variants.resources("NetworkWithNat", "AWS::EC2::NatGateway")) == 1
    subnets = construct_variants.resources("NetworkWithNat", "AWS::EC2::Subnet").values()
    assert len(subnets) == 6  # three AZs, a public and a private subnet in each
    assert {s["Properties"]["MapPublicIpOnLaunch"] for s in subnets} == {False}
    assert len(construct_variants.resources("NetworkWithNat", "AWS::EC2::InternetGateway")) == 1
    vpc = _one(construct_variants, "NetworkWithNat", "AWS::EC2::VPC")
    assert vpc["Properties"]["CidrBlock"] == "10.20.0.0/16"


def test_interface_endpoints_accept_https_from_the_vpc_only(
    construct_variants: Synthesized,
) -> None:
    interfaces = [
        e["Properties"]
        for e in construct_variants.resources("NetworkWithNat", "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    ]
    assert sorted(e["ServiceName"] for e in interfaces) == [
        "com.amazonaws.eu-west-1.kinesis-streams",
        "com.amazonaws.eu-west-1.sts",
    ]
    assert {e["PrivateDnsEnabled"] for e in interfaces} == {True}
    groups = construct_variants.resources("NetworkWithNat", "AWS::EC2::SecurityGroup")
    [group] = groups.values()
    assert group["Properties"]["SecurityGroupIngress"] == [
        {
            "CidrIp": "10.20.0.0/16",
            "Description": "HTTPS from the VPC",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    [egress] = group["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"  # CDK's "no egress" placeholder
    network = construct_variants.stack("NetworkWithNat").node.find_child("Network")
    assert set(network.interface_endpoints) == {"sts", "kinesis-streams"}


def test_flow_log_retention_is_configurable(construct_variants: Synthesized) -> None:
    groups = construct_variants.resources("NetworkWithNat", "AWS::Logs::LogGroup").values()
    assert {g["Properties"]["RetentionInDays"] for g in groups} == {90}


def _network(**props: Any) -> PrivateNetwork:
    return PrivateNetwork(cdk.Stack(cdk.App(), "Validation"), "Network", **props)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"cidr": "10.0.0.0/8"}, "cidr='10.0.0.0/8': an IPv4 CIDR block with a /16 to /20"),
        ({"cidr": "300.0.0.0/16"}, "cidr='300.0.0.0/16'"),
        ({"cidr": "vpc"}, "cidr='vpc'"),
        (
            {"cidr": "10.0.0.1/16"},
            "cidr='10.0.0.1/16': the network's own address, 10.0.0.0/16 (host bits are set",
        ),
        ({"cidr": "10.1.128.0/16"}, "the network's own address, 10.1.0.0/16"),
        ({"cidr": "10.0.0.0/21"}, "cidr='10.0.0.0/21': an IPv4 CIDR block with a /16 to /20"),
        ({"max_azs": 0}, "max_azs=0: 1 to 6"),
        ({"max_azs": 7}, "max_azs=7: 1 to 6"),
        ({"max_azs": 3}, "max_azs=3: at most 2 in an environment-agnostic stack"),
        ({"nat_gateways": 3}, "nat_gateways=3: 0 to max_azs (2)"),
        ({"nat_gateways": -1}, "nat_gateways=-1"),
        ({"interface_endpoints": ["Glue"]}, "interface_endpoints='Glue': AWS service names"),
        ({"interface_endpoints": ["sts", "sts"]}, "interface_endpoints='sts': each service once"),
        ({"interface_endpoints": ["s3"]}, "interface_endpoints='s3': not s3 or dynamodb"),
        ({"flow_log_retention_days": 42}, "flow_log_retention_days=42: one of CloudWatch"),
    ],
)
def test_invalid_props_are_refused_with_a_clear_error(props: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^PrivateNetwork: invalid prop") as error:
        _network(**props)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as error:
        _network(cidr="nope", max_azs=9, flow_log_retention_days=2)
    assert str(error.value).count("\n  - ") == 3


@pytest.mark.parametrize(
    ("cidr", "nat_gateways", "private", "public"),
    [
        ("10.0.0.0/16", 0, ["10.0.0.0/20", "10.0.16.0/20"], []),
        # The documented /20 (and a /19 with NAT gateways) used to fail: two /20 subnets
        # cannot fit. Private subnets shrink to what fits.
        ("10.0.0.0/20", 0, ["10.0.0.0/21", "10.0.8.0/21"], []),
        ("10.0.0.0/20", 1, ["10.0.4.0/22", "10.0.8.0/22"], ["10.0.0.0/24", "10.0.1.0/24"]),
        ("10.0.0.0/19", 1, ["10.0.8.0/21", "10.0.16.0/21"], ["10.0.0.0/24", "10.0.1.0/24"]),
        (
            "172.16.0.0/18",
            2,
            ["172.16.16.0/20", "172.16.32.0/20"],
            ["172.16.0.0/24", "172.16.1.0/24"],
        ),
    ],
)
def test_every_documented_prefix_gets_subnets_that_fit(
    cidr: str, nat_gateways: int, private: list[str], public: list[str]
) -> None:
    network = _network(cidr=cidr, nat_gateways=nat_gateways)
    vpc = network.vpc
    cdk.App.of(network).synth()  # CDK fails here when the subnets do not fit
    workload = vpc.private_subnets if nat_gateways else vpc.isolated_subnets
    assert [s.ipv4_cidr_block for s in workload] == private
    assert [s.ipv4_cidr_block for s in vpc.public_subnets] == public
    assert private_subnet_mask(cidr, 2, nat_gateways > 0) == int(private[0].split("/")[1])
