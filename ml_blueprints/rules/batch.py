"""Rules for AWS Batch job definitions (``AWS::Batch::JobDefinition``) and compute
environments (``AWS::Batch::ComputeEnvironment``).

cdk-nag 3.0.2 checks ECS task definitions but not Batch's container job definitions,
which run the same containers: privileged, as root, with a writable root file system, a
public IP or no logs, all pass every pack.
"""

from __future__ import annotations

from ml_blueprints.rules.base import (
    Properties,
    Rule,
    get_path,
    is_reference_or_nonempty,
    literal_bool,
)

JOB_DEFINITION = "AWS::Batch::JobDefinition"
COMPUTE_ENVIRONMENT = "AWS::Batch::ComputeEnvironment"


def _container(properties: Properties) -> Properties:
    container = properties.get("ContainerProperties")
    return container if isinstance(container, dict) else {}


def job_not_privileged(properties: Properties) -> bool:
    """The container is not privileged."""
    return literal_bool(_container(properties).get("Privileged")) is not True


def job_read_only_root(properties: Properties) -> bool:
    """The container's root file system is read-only."""
    return literal_bool(_container(properties).get("ReadonlyRootFilesystem")) is True


def job_non_root_user(properties: Properties) -> bool:
    """The container runs as a named user other than root (uid 0)."""
    user = _container(properties).get("User")
    return isinstance(user, str) and user.strip() != "" and user.split(":")[0] not in ("0", "root")


def job_no_public_ip(properties: Properties) -> bool:
    """A Fargate job gets no public IP."""
    return get_path(_container(properties), "NetworkConfiguration", "AssignPublicIp") != "ENABLED"


def job_logging(properties: Properties) -> bool:
    """The container's output goes to a log driver."""
    return is_reference_or_nonempty(
        get_path(_container(properties), "LogConfiguration", "LogDriver")
    )


def compute_environment_in_vpc(properties: Properties) -> bool:
    """A managed compute environment names its subnets and security groups."""
    if properties.get("Type", "MANAGED").upper() != "MANAGED":
        return True
    resources = properties.get("ComputeResources")
    subnets = get_path(resources, "Subnets")
    groups = get_path(resources, "SecurityGroupIds")
    return all(
        isinstance(value, list) and value and all(is_reference_or_nonempty(v) for v in value)
        for value in (subnets, groups)
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "BatchJobDefinitionNotPrivileged",
        JOB_DEFINITION,
        "The Batch job's container is privileged.",
        "A privileged container has root on its host: a compromised job owns the instance "
        "and what other jobs leave on it.",
        job_not_privileged,
    ),
    Rule(
        "BatchJobDefinitionReadOnlyRoot",
        JOB_DEFINITION,
        "The Batch job's container has a writable root file system.",
        "A read-only root file system stops a compromised job from changing its own "
        "binaries; give it a scratch volume for what it must write.",
        job_read_only_root,
    ),
    Rule(
        "BatchJobDefinitionNonRootUser",
        JOB_DEFINITION,
        "The Batch job's container runs as root (no User, or uid 0).",
        "Containers run as root unless told otherwise; a non-root user limits what an "
        "exploited job can do in and out of its container.",
        job_non_root_user,
    ),
    Rule(
        "BatchJobDefinitionNoPublicIp",
        JOB_DEFINITION,
        "The Batch job's Fargate task gets a public IP address.",
        "A public IP puts the task on the internet; jobs reach AWS services through the "
        "VPC's endpoints (or NAT) from private subnets.",
        job_no_public_ip,
    ),
    Rule(
        "BatchJobDefinitionLogging",
        JOB_DEFINITION,
        "The Batch job's container has no log configuration.",
        "Without a log driver a job's output (and its errors) are gone when it ends.",
        job_logging,
    ),
    Rule(
        "BatchComputeEnvironmentInVpc",
        COMPUTE_ENVIRONMENT,
        "The managed Batch compute environment does not name its subnets and security groups.",
        "Jobs then run in whatever network the account defaults to, outside the controls "
        "of the platform's VPC.",
        compute_environment_in_vpc,
    ),
)
