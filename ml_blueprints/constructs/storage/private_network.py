"""PrivateNetwork: a VPC for data workloads with no route to the internet by default.

The course notes' VPC endpoint gateway: instances in private subnets reach S3 (and DynamoDB)
through gateway endpoints, which cost nothing, instead of an internet or NAT gateway, which
costs by the hour. The S3 gateway endpoint is what :class:`SecureDataLake` trusts in its
bucket policy (``aws:SourceVpce``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_blueprints.compliance import acknowledge_rule
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
    allow_cloudwatch_logs,
    own_provider_log_group,
    pascal,
)
from ml_blueprints.validation import PropErrors, typed_props

_SERVICE_NAME = re.compile(r"^[a-z0-9]+([.-][a-z0-9]+)*$")


class PrivateNetwork(Construct):
    """A VPC with private isolated subnets, gateway endpoints and encrypted flow logs.

    Defaults:

    - ``cidr``: ``10.0.0.0/16`` (a network address with a /16 to /20 prefix; host bits set,
      as in ``10.0.0.1/16``, are refused rather than silently moved).
    - ``max_azs``: 2 availability zones, one private isolated subnet in each (more need a
      stack with an explicit account and region). Private subnets are /20 each, or the
      largest size that fits the VPC (:func:`private_subnet_mask`: a /20 VPC in 2 AZs gets
      /21 subnets).
    - ``nat_gateways``: 0. With one or more, each AZ also gets a /24 public subnet (no
      automatic public IPs) and the private subnets route out through the NAT gateways.
    - Gateway endpoints for S3 and DynamoDB: always (they are free).
    - ``interface_endpoints``: none. Give service names such as ``"sts"``, ``"glue"``,
      ``"kinesis-streams"`` or ``"sagemaker.api"``; each endpoint costs by the hour per AZ.
    - Flow logs of all traffic to a CloudWatch log group encrypted with ``encryption_key``
      (a new customer-managed key with rotation when not given), kept
      ``flow_log_retention_days`` (365) days, written by a role only VPC Flow Logs of this
      account can assume.
    - The default security group is closed (no rules), by CDK's custom resource, whose log
      group is created in the stack (encrypted, same retention) so none is left behind.
    - ``removal_policy``: RETAIN for the flow-log group and the key; with DESTROY the key
      is deleted after KMS's shortest pending window, 7 days.

    Attributes: ``vpc``, ``s3_endpoint``, ``dynamodb_endpoint``, ``interface_endpoints``
    (by service name), ``flow_log``, ``flow_log_group``, ``key``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cidr: str = "10.0.0.0/16",
        max_azs: int = 2,
        nat_gateways: int = 0,
        interface_endpoints: Sequence[str] = (),
        flow_log_retention_days: int = 365,
        encryption_key: kms.IKey | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        _validate(
            cidr,
            max_azs,
            nat_gateways,
            interface_endpoints,
            flow_log_retention_days,
            agnostic_azs=len(cdk.Stack.of(self).availability_zones)
            if cdk.Token.is_unresolved(cdk.Stack.of(self).region)
            else None,
        )

        self.key: kms.IKey = encryption_key or kms.Key(
            self,
            "FlowLogKey",
            description="Encrypts the VPC flow logs of this PrivateNetwork",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=cdk.Duration.days(7)
            if removal_policy == cdk.RemovalPolicy.DESTROY
            else None,
        )
        allow_cloudwatch_logs(self.key)

        subnets = [
            ec2.SubnetConfiguration(
                name="Private",
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                if nat_gateways
                else ec2.SubnetType.PRIVATE_ISOLATED,
                cidr_mask=private_subnet_mask(cidr, max_azs, nat_gateways > 0),
            )
        ]
        if nat_gateways:
            subnets.insert(
                0,
                ec2.SubnetConfiguration(
                    name="Public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=max_azs,
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
        )
        for subnet in self.vpc.public_subnets:
            acknowledge_rule(
                subnet.node.find_child("DefaultRoute"),
                "VPCNoUnrestrictedRouteToIGW",
                "The caller asked for NAT gateways; only the public subnets that hold them "
                "route to the internet gateway. Nothing else runs there and no public IPs are "
                "assigned; workloads stay in the private subnets behind NAT.",
            )
        restrict_default_sg = self.vpc.node.try_find_child(
            "RestrictDefaultSecurityGroupCustomResource"
        )
        if restrict_default_sg is not None:
            own_provider_log_group(
                restrict_default_sg,
                "Custom::VpcRestrictDefaultSGCustomResourceProvider",
                key=self.key,
                retention_days=flow_log_retention_days,
                removal_policy=removal_policy,
            )
        private = ec2.SubnetSelection(subnet_group_name="Private")
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[private]
        )
        self.dynamodb_endpoint = self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint",
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=[private],
        )
        self.cidr = cidr
        self.endpoint_security_group: ec2.SecurityGroup | None = None
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        self.add_interface_endpoints(self, interface_endpoints)
        for subnet in self.vpc.select_subnets(subnet_group_name="Private").subnets:
            # Lets EMR's v2 managed service policy launch clusters into the private subnets.
            cdk.Tags.of(subnet).add("for-use-with-amazon-emr-managed-policies", "true")

        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogGroup",
            encryption_key=self.key,
            retention=LOG_RETENTION[flow_log_retention_days],
            removal_policy=removal_policy,
        )
        self.flow_log_role = self._flow_log_role(self.flow_log_group)
        self.flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                self.flow_log_group, self.flow_log_role
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    def _flow_log_role(self, log_group: logs.LogGroup) -> iam.IRole:
        """A role only VPC Flow Logs of this account can assume, allowed to write to
        ``log_group`` and nothing else, through a customer-managed policy (no inline
        policy: CDK's grants to it are dropped by ``without_policy_updates``)."""
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="ec2", resource="vpc-flow-log", resource_name="*"
                        )
                    },
                }
            ),
            description="Lets VPC Flow Logs write this network's flow log group",
        )
        policy = iam.ManagedPolicy(
            self,
            "FlowLogPolicy",
            description="Write access to this network's flow log group only",
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[log_group.log_group_arn],
                )
            ],
        )
        role.add_managed_policy(policy)
        return role.without_policy_updates()

    @typed_props
    def add_interface_endpoints(
        self, scope: Construct, services: Sequence[str]
    ) -> dict[str, ec2.InterfaceVpcEndpoint]:
        """Add interface endpoints for ``services`` to the private subnets, as children of
        ``scope`` (a construct in another stack, so a layer that needs them, and pays for
        them by the hour, owns them), once per scope. They accept HTTPS from inside the VPC
        only."""
        errors = PropErrors("PrivateNetwork.add_interface_endpoints")
        _check_services(errors, services, existing=set(self.interface_endpoints))
        errors.raise_if_any()
        if not services:
            return {}
        group = ec2.SecurityGroup(
            scope,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        # The CIDR is a literal, so compliance rules can read the rule.
        group.add_ingress_rule(ec2.Peer.ipv4(self.cidr), ec2.Port.tcp(443), "HTTPS from the VPC")
        if scope is self:
            self.endpoint_security_group = group
        added = {}
        for name in services:
            added[name] = ec2.InterfaceVpcEndpoint(
                scope,
                f"{pascal(name)}Endpoint",
                vpc=self.vpc,
                service=ec2.InterfaceVpcEndpointAwsService(name),
                subnets=self.private_subnets,
                private_dns_enabled=True,
                security_groups=[group],
                open=False,
            )
        self.interface_endpoints.update(added)
        return added

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        """The subnets workloads run in (isolated, or with NAT egress when asked)."""
        return ec2.SubnetSelection(subnet_group_name="Private")


def _check_services(errors: PropErrors, services: Sequence[str], existing: set[str]) -> None:
    seen = set(existing)
    for name in services:
        if not errors.require(
            isinstance(name, str) and bool(_SERVICE_NAME.match(name)),
            "interface_endpoints",
            name,
            "AWS service names such as 'sts', 'glue', 'kinesis-streams', 'sagemaker.api'",
        ):
            continue
        errors.require(name not in seen, "interface_endpoints", name, "each service once")
        errors.require(
            name not in ("s3", "dynamodb"),
            "interface_endpoints",
            name,
            "not s3 or dynamodb: they already have free gateway endpoints",
        )
        seen.add(name)


def _network(cidr: str) -> ipaddress.IPv4Network | None:
    """The IPv4 network ``cidr`` names (host bits allowed), or ``None`` if it names none."""
    if not isinstance(cidr, str) or not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}/\d{1,2}", cidr):
        return None
    try:
        return ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return None


def private_subnet_mask(cidr: str, azs: int, public_subnets: bool) -> int:
    """The prefix of each private subnet: /20, or the largest size for which one private
    subnet per AZ (after a /24 public subnet per AZ when there are NAT gateways) fits in
    ``cidr``, allocated in order and aligned as CDK does."""
    network = _network(cidr)
    if network is None:
        return 20
    for mask in range(max(20, network.prefixlen), 29):
        if _fits(network, azs, mask, public_subnets):
            return mask
    return 28


def _fits(network: ipaddress.IPv4Network, azs: int, mask: int, public_subnets: bool) -> bool:
    start, end = int(network.network_address), int(network.broadcast_address) + 1
    position = start
    sizes = ([2 ** (32 - 24)] * azs if public_subnets else []) + [2 ** (32 - mask)] * azs
    for size in sizes:
        position = -(-(position - start) // size) * size + start  # align up
        position += size
        if position > end:
            return False
    return True


def _validate(
    cidr: str,
    max_azs: int,
    nat_gateways: int,
    interface_endpoints: Sequence[str],
    flow_log_retention_days: int,
    *,
    agnostic_azs: int | None,
) -> None:
    errors = PropErrors("PrivateNetwork")
    network = _network(cidr)
    if network is None:
        errors.add("cidr", cidr, "an IPv4 CIDR block with a /16 to /20 prefix, e.g. 10.0.0.0/16")
    elif network.network_address != ipaddress.IPv4Interface(cidr).ip:
        errors.add(
            "cidr",
            cidr,
            f"the network's own address, {network} (host bits are set: EC2 would use "
            f"{network} and every address built on {cidr} would be wrong)",
        )
    elif not 16 <= network.prefixlen <= 20:
        errors.add("cidr", cidr, "an IPv4 CIDR block with a /16 to /20 prefix, e.g. 10.0.0.0/16")
    if errors.require(isinstance(max_azs, int) and 1 <= max_azs <= 6, "max_azs", max_azs, "1 to 6"):
        # A stack without a region offers the AZs its availability_zones returns (CDK: 2);
        # CDK would quietly build fewer subnets than asked for.
        errors.require(
            agnostic_azs is None or max_azs <= agnostic_azs,
            "max_azs",
            max_azs,
            f"at most {agnostic_azs} in an environment-agnostic stack: give the stack an "
            "account and region (or override its availability_zones) to use more",
        )
    errors.require(
        isinstance(nat_gateways, int) and 0 <= nat_gateways <= max(max_azs, 0),
        "nat_gateways",
        nat_gateways,
        f"0 to max_azs ({max_azs})",
    )
    _check_services(errors, interface_endpoints, existing=set())
    errors.require(
        flow_log_retention_days in LOG_RETENTION_DAYS,
        "flow_log_retention_days",
        flow_log_retention_days,
        LOG_RETENTION_ALLOWED,
    )
    errors.raise_if_any()
