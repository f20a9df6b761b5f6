"""Rules for Amazon Redshift Serverless namespaces and workgroups.

cdk-nag 3.0.2 checks provisioned clusters (``AWS::Redshift::Cluster``: in a VPC, not public,
encrypted, audit and user-activity logging, enhanced VPC routing, TLS) but has no rule for
``AWS::RedshiftServerless::Namespace`` or ``AWS::RedshiftServerless::Workgroup``, so a public
workgroup or an unencrypted namespace passes every pack silently. These are the same
controls, for the serverless types.
"""

from __future__ import annotations

from typing import Any

from ml_blueprints.rules.base import (
    Properties,
    Rule,
    is_intrinsic,
    is_reference_or_nonempty,
    literal_bool,
)

WORKGROUP = "AWS::RedshiftServerless::Workgroup"
NAMESPACE = "AWS::RedshiftServerless::Namespace"

#: Every log Redshift Serverless can export: connections, user changes, every query.
AUDIT_LOGS = frozenset({"connectionlog", "userlog", "useractivitylog"})
#: Admin user names everyone guesses first.
DEFAULT_ADMIN_USERNAMES = frozenset({"admin", "awsuser", "root", "master"})


def _config_parameter(properties: Properties, key: str) -> Any:
    for parameter in properties.get("ConfigParameters") or []:
        if isinstance(parameter, dict) and parameter.get("ParameterKey") == key:
            return parameter.get("ParameterValue")
    return None


def workgroup_not_public(properties: Properties) -> bool:
    """PubliclyAccessible is absent (the service's default is false) or literally false."""
    value = properties.get("PubliclyAccessible")
    return value is None or literal_bool(value) is False


def workgroup_enhanced_vpc_routing(properties: Properties) -> bool:
    """EnhancedVpcRouting is literally true (the service's default is false)."""
    return literal_bool(properties.get("EnhancedVpcRouting")) is True


def workgroup_in_vpc_subnets(properties: Properties) -> bool:
    """SubnetIds names the subnets (without them the workgroup lands in the default VPC)."""
    subnets = properties.get("SubnetIds")
    return is_intrinsic(subnets) or (
        isinstance(subnets, list)
        and len(subnets) > 0
        and all(is_reference_or_nonempty(s) for s in subnets)
    )


def workgroup_requires_ssl(properties: Properties) -> bool:
    """The ``require_ssl`` parameter is set to true."""
    return literal_bool(_config_parameter(properties, "require_ssl")) is True


def workgroup_user_activity_logging(properties: Properties) -> bool:
    """The ``enable_user_activity_logging`` parameter is set to true (without it the
    user-activity log records nothing)."""
    return literal_bool(_config_parameter(properties, "enable_user_activity_logging")) is True


def namespace_customer_managed_key(properties: Properties) -> bool:
    """KmsKeyId names a customer-managed key: not absent, not ``AWS_OWNED_KMS_KEY``, not an
    AWS-managed alias (``alias/aws/...``)."""
    key = properties.get("KmsKeyId")
    if is_intrinsic(key):
        return True
    if not isinstance(key, str) or not key.strip():
        return False
    return key != "AWS_OWNED_KMS_KEY" and not key.split(":")[-1].startswith("alias/aws/")


def namespace_audit_logging(properties: Properties) -> bool:
    """LogExports has the connection, user and user-activity logs."""
    exports = properties.get("LogExports")
    return isinstance(exports, list) and {e for e in exports if isinstance(e, str)} >= AUDIT_LOGS


def _is_dynamic_secret(value: Any) -> bool:
    text = value if isinstance(value, str) else ""
    if isinstance(value, dict) and "Fn::Join" in value:
        text = "".join(p for p in value["Fn::Join"][1] if isinstance(p, str))
    return "{{resolve:secretsmanager:" in text


def namespace_no_plaintext_password(properties: Properties) -> bool:
    """No admin password in the template: Redshift manages it in Secrets Manager
    (ManageAdminPassword), or it is a Secrets Manager dynamic reference, or there is none."""
    if literal_bool(properties.get("ManageAdminPassword")) is True:
        return "AdminUserPassword" not in properties
    password = properties.get("AdminUserPassword")
    return password is None or _is_dynamic_secret(password)


def namespace_non_default_admin(properties: Properties) -> bool:
    """AdminUsername is set and is not a name everyone tries first (admin, awsuser...)."""
    name = properties.get("AdminUsername")
    if is_intrinsic(name):
        return True
    return isinstance(name, str) and name.lower() not in DEFAULT_ADMIN_USERNAMES


RULES: tuple[Rule, ...] = (
    Rule(
        "RedshiftServerlessWorkgroupNotPublic",
        WORKGROUP,
        "The Redshift Serverless workgroup is publicly accessible.",
        "A public workgroup gets an endpoint reachable from the internet; only its security "
        "group stands between the warehouse and the world. Keep it private and connect "
        "through the VPC.",
        workgroup_not_public,
    ),
    Rule(
        "RedshiftServerlessWorkgroupEnhancedVpcRouting",
        WORKGROUP,
        "The Redshift Serverless workgroup does not have enhanced VPC routing enabled.",
        "Without it COPY and UNLOAD traffic to S3 leaves the VPC, bypassing its endpoints, "
        "endpoint policies and flow logs.",
        workgroup_enhanced_vpc_routing,
    ),
    Rule(
        "RedshiftServerlessWorkgroupInVpcSubnets",
        WORKGROUP,
        "The Redshift Serverless workgroup does not name its subnets.",
        "Without SubnetIds the workgroup is placed in the account's default VPC, outside the "
        "network the platform controls.",
        workgroup_in_vpc_subnets,
    ),
    Rule(
        "RedshiftServerlessWorkgroupRequireSsl",
        WORKGROUP,
        "The Redshift Serverless workgroup does not require SSL connections.",
        "Set the require_ssl parameter to true so credentials and query results never "
        "travel in clear text.",
        workgroup_requires_ssl,
    ),
    Rule(
        "RedshiftServerlessWorkgroupUserActivityLogging",
        WORKGROUP,
        "The Redshift Serverless workgroup does not log user activity.",
        "Set enable_user_activity_logging to true: the user-activity log (every query before "
        "it runs) is empty without it, even when the namespace exports it.",
        workgroup_user_activity_logging,
    ),
    Rule(
        "RedshiftServerlessNamespaceCustomerManagedKey",
        NAMESPACE,
        "The Redshift Serverless namespace is not encrypted with a customer-managed KMS key.",
        "With an AWS-owned or AWS-managed key the key policy, rotation and the audit trail of "
        "every use of the key are not yours to control or revoke.",
        namespace_customer_managed_key,
    ),
    Rule(
        "RedshiftServerlessNamespaceAuditLogging",
        NAMESPACE,
        "The Redshift Serverless namespace does not export its connection, user and "
        "user-activity logs.",
        "Audit logging records who connected, which users changed and what ran; without it "
        "an incident cannot be reconstructed.",
        namespace_audit_logging,
    ),
    Rule(
        "RedshiftServerlessNamespaceNoPlaintextPassword",
        NAMESPACE,
        "The Redshift Serverless namespace has its admin password in the template.",
        "Let Redshift manage the admin credentials in Secrets Manager (ManageAdminPassword) "
        "or resolve them from Secrets Manager at deploy time; a literal password is readable "
        "by anyone who can read the template or the stack.",
        namespace_no_plaintext_password,
    ),
    Rule(
        "RedshiftServerlessNamespaceNonDefaultAdmin",
        NAMESPACE,
        "The Redshift Serverless namespace uses a default admin user name.",
        "A default name (admin, awsuser) is half of the credentials an attacker needs.",
        namespace_non_default_admin,
    ),
)
