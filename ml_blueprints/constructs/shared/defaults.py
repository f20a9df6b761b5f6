"""Small pieces the constructs share."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

#: CloudWatch Logs accepts only these retention periods (days), as CDK's ``RetentionDays``.
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS, 7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS, 150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS, 2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}  # fmt: skip
LOG_RETENTION_DAYS: tuple[int, ...] = tuple(LOG_RETENTION)
LOG_RETENTION_ALLOWED = "one of CloudWatch Logs' periods: " + ", ".join(map(str, LOG_RETENTION))


def pascal(name: str) -> str:
    """``"kinesis-streams"`` -> ``"KinesisStreams"``, for construct ids made from names."""
    return "".join(part.capitalize() for part in name.replace(".", "-").split("-") if part)


def allow_cloudwatch_logs(key: kms.IKey) -> None:
    """Let CloudWatch Logs of ``key``'s account and region use ``key`` for log groups.

    No effect on an imported key, whose policy this app does not own.
    """
    stack = cdk.Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )


def own_provider_log_group(
    custom_resource: Construct,
    provider_id: str,
    *,
    key: kms.IKey,
    retention_days: int,
    removal_policy: cdk.RemovalPolicy,
) -> logs.LogGroup | None:
    """Create the log group of a CDK-internal custom resource provider function up front.

    Lambda otherwise creates ``/aws/lambda/<function>`` on first invocation, unencrypted,
    kept forever, and left behind when the stack is destroyed. Creating it in the stack
    (encrypted, with retention and the app's removal policy) and making ``custom_resource``
    depend on it means the function's last invocation, on stack deletion, happens before the
    log group is deleted. One log group per provider, shared by every custom resource using
    it. Returns ``None`` when the stack has no such provider.
    """
    stack = cdk.Stack.of(custom_resource)
    provider = stack.node.try_find_child(provider_id)
    if provider is None:
        return None
    log_group_id = f"{provider_id}LogGroup"
    log_group = stack.node.try_find_child(log_group_id)
    if log_group is None:
        handler = provider.node.find_child("Handler")
        log_group = logs.LogGroup(
            stack,
            log_group_id,
            log_group_name=cdk.Fn.join("", ["/aws/lambda/", handler.ref]),
            encryption_key=key,
            retention=LOG_RETENTION[retention_days],
            removal_policy=removal_policy,
        )
    custom_resource.node.add_dependency(log_group)
    return log_group  # type: ignore[return-value]


_CRON_FIELD = {
    "minutes": r"(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?(,(\d{1,2}(-\d{1,2})?)(/\d{1,2})?)*",
    "hours": r"(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?(,(\d{1,2}(-\d{1,2})?)(/\d{1,2})?)*",
    "day-of-month": r"\?|L|W|\d{1,2}W|(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?(,\d{1,2}(-\d{1,2})?)*",
    "month": r"(\*|([1-9]|1[0-2]|[A-Z]{3})(-([1-9]|1[0-2]|[A-Z]{3}))?)(/\d{1,2})?"
    r"(,([1-9]|1[0-2]|[A-Z]{3})(-([1-9]|1[0-2]|[A-Z]{3}))?)*",
    "day-of-week": r"\?|L|\d#\d|[1-7]L|(\*|([1-7]|[A-Z]{3})(-([1-7]|[A-Z]{3}))?)(/\d)?"
    r"(,([1-7]|[A-Z]{3})(-([1-7]|[A-Z]{3}))?)*",
    "year": r"(\*|\d{4}(-\d{4})?)(/\d{1,3})?(,\d{4}(-\d{4})?)*",
}
CRON_ALLOWED = (
    "an AWS cron expression 'cron(minutes hours day-of-month month day-of-week year)' "
    "with '?' in day-of-month or day-of-week, e.g. 'cron(15 2 * * ? *)'"
)


def is_aws_cron(expression: object) -> bool:
    """Whether ``expression`` is a valid AWS (EventBridge/Glue) cron expression."""
    if not isinstance(expression, str):
        return False
    inner = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if inner is None:
        return False
    fields = inner.group(1).split()
    if len(fields) != 6:
        return False
    values = dict(zip(_CRON_FIELD, fields, strict=True))
    if not all(re.fullmatch(_CRON_FIELD[name], value) for name, value in values.items()):
        return False
    numbers = {
        "minutes": 59, "hours": 23, "day-of-month": 31,
    }  # fmt: skip
    for name, limit in numbers.items():
        if any(int(n) > limit for n in re.findall(r"\d+", values[name].split("/")[0])):
            return False
    # Exactly one of day-of-month and day-of-week is '?'.
    return (values["day-of-month"] == "?") != (values["day-of-week"] == "?")


def sagemaker_vpc_access() -> iam.PolicyStatement:
    """What a SageMaker execution role needs to attach jobs, models and endpoints to a VPC:
    EC2 network-interface and description actions, which have no resource-level
    permissions (Resource ``*``)."""
    return iam.PolicyStatement(
        sid="AttachToTheVpc",
        actions=[
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ],
        resources=["*"],
    )
