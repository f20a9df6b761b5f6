"""Start MiniStack with the CloudFormation support it lacks for this app's templates.

MiniStack (pinned in ``emulator/requirements.txt``) models the EC2 flow-log and
security-group-rule APIs, Glue security configurations and Athena named queries, but its
CloudFormation engine has no provisioner for ``AWS::EC2::FlowLog``,
``AWS::EC2::SecurityGroupIngress``, ``AWS::EC2::SecurityGroupEgress``,
``AWS::Glue::SecurityConfiguration`` or ``AWS::Athena::NamedQuery`` and rejects a template
that declares one. This program registers a handler for each in MiniStack's resource table
(``provisioners._RESOURCE_HANDLERS``) that calls MiniStack's own implementation of the
service API, so the resource is really recorded (``DescribeFlowLogs``,
``DescribeSecurityGroups``, ``GetSecurityConfiguration``, ``GetNamedQuery`` return it) and
removed on delete. Its ``AWS::S3::Bucket`` provisioner also ignores ``Tags``; this program
adds them to the bucket configurations it applies through MiniStack's S3 API, because CDK's
auto-delete handler reads the ``aws-cdk:auto-delete-objects`` tag before it empties a bucket
on destroy (without it, ``cdk destroy`` fails with ``NoSuchTagSet``). And its
``AWS::Kinesis::Stream`` provisioner creates every stream unencrypted; this program follows it
with MiniStack's ``StartStreamEncryption`` for the template's ``StreamEncryption``. Then it
runs MiniStack's ``main``.

The handlers for the services added later live in :mod:`emulator.extras` (one module per
service: ``AWS::Budgets::Budget`` and ``AWS::CloudTrail::Trail`` in ``governance``; the
settings MiniStack's ``AWS::DynamoDB::GlobalTable`` drops (the replica's key, point-in-time
recovery, deletion protection, tags; TTL) in ``dynamodb``; an ``AWS::SNS::Topic``'s
``KmsMasterKeyId`` in ``sns``).

Not added, and listed in the README instead: default encryption (``BucketEncryption``: the
emulator's S3 refuses writes to a bucket whose SSE-KMS default names no key, as the CDK
bootstrap bucket's does), lifecycle rules, access logging.

It runs with the emulator's own interpreter (``.venv-emulator``), never the project's: it
imports ``ministack``, whose botocore pin conflicts with the project's boto3.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

# Run as a script by the harness: the repository on the path for emulator.extras (in this
# process only, not in PYTHONPATH, so the Lambda functions it runs never see the repository).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ministack import app as ministack_app
from ministack.core.responses import get_account_id, get_region
from ministack.services import athena, ec2, glue, kinesis, s3
from ministack.services.cloudformation import provisioners

from emulator.extras import Handler
from emulator.extras import call as _call
from emulator.extras import dynamodb as extra_dynamodb
from emulator.extras import governance as extra_governance
from emulator.extras import sns as extra_sns


def _query(params: dict[str, Any]) -> dict[str, list[str]]:
    """EC2 query-protocol parameters, as MiniStack's EC2 functions read them."""
    return {key: [str(value)] for key, value in params.items() if value is not None}


# --------------------------------------------------------------------------- EC2::FlowLog


def _flow_log_create(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
    params: dict[str, Any] = {
        "ResourceId.1": props["ResourceId"],
        "ResourceType": props.get("ResourceType"),
        "TrafficType": props.get("TrafficType", "ALL"),
        "LogDestinationType": props.get("LogDestinationType", "cloud-watch-logs"),
        "LogDestination": props.get("LogDestination") or props.get("LogGroupName"),
        "DeliverLogsPermissionArn": props.get("DeliverLogsPermissionArn"),
        "MaxAggregationInterval": props.get("MaxAggregationInterval"),
    }
    for i, tag in enumerate(props.get("Tags") or [], start=1):
        params["TagSpecification.1.ResourceType"] = "vpc-flow-log"
        params[f"TagSpecification.1.Tag.{i}.Key"] = tag["Key"]
        params[f"TagSpecification.1.Tag.{i}.Value"] = tag["Value"]
    body = _call(ec2._create_flow_logs, _query(params), "AWS::EC2::FlowLog create").decode()
    flow_log_id = re.search(r"<item>(fl-[0-9a-f]+)</item>", body).group(1)  # type: ignore[union-attr]
    return flow_log_id, {"Id": flow_log_id}


def _flow_log_delete(physical_id: str, props: dict) -> None:
    _call(ec2._delete_flow_logs, _query({"FlowLogId.1": physical_id}), "AWS::EC2::FlowLog delete")


# ------------------------------------------------------- EC2::SecurityGroupIngress/Egress


def _rule_params(props: dict, egress: bool) -> dict[str, Any]:
    prefix = "IpPermissions.1"
    params: dict[str, Any] = {
        "GroupId": props["GroupId"],
        f"{prefix}.IpProtocol": props["IpProtocol"],
        f"{prefix}.FromPort": props.get("FromPort"),
        f"{prefix}.ToPort": props.get("ToPort"),
    }
    description = props.get("Description")
    if "CidrIp" in props:
        params[f"{prefix}.IpRanges.1.CidrIp"] = props["CidrIp"]
        params[f"{prefix}.IpRanges.1.Description"] = description
    if "CidrIpv6" in props:
        params[f"{prefix}.Ipv6Ranges.1.CidrIpv6"] = props["CidrIpv6"]
        params[f"{prefix}.Ipv6Ranges.1.Description"] = description
    peer = props.get("DestinationSecurityGroupId" if egress else "SourceSecurityGroupId")
    if peer:
        params[f"{prefix}.Groups.1.GroupId"] = peer
        params[f"{prefix}.Groups.1.Description"] = description
    prefix_list = props.get("DestinationPrefixListId" if egress else "SourcePrefixListId")
    if prefix_list:
        params[f"{prefix}.PrefixListIds.1.PrefixListId"] = prefix_list
        params[f"{prefix}.PrefixListIds.1.Description"] = description
    return params


def _rule_handler(egress: bool) -> Handler:
    kind = "AWS::EC2::SecurityGroupEgress" if egress else "AWS::EC2::SecurityGroupIngress"
    authorize = ec2._authorize_sg_egress if egress else ec2._authorize_sg_ingress
    revoke = ec2._revoke_sg_egress if egress else ec2._revoke_sg_ingress

    def create(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
        body = _call(authorize, _query(_rule_params(props, egress)), f"{kind} create").decode()
        rule_id = re.search(r"<securityGroupRuleId>([^<]+)<", body).group(1)  # type: ignore[union-attr]
        return rule_id, {"Id": rule_id, "GroupId": props["GroupId"]}

    def delete(physical_id: str, props: dict) -> None:
        if props["GroupId"] not in ec2._security_groups:
            return  # the group went first (its stack is being deleted): the rule went with it
        request = {"GroupId": props["GroupId"], "SecurityGroupRuleId.1": physical_id}
        _call(revoke, _query(request), f"{kind} delete")

    def update(physical_id: str, old: dict, new: dict, stack_name: str) -> tuple[str, dict]:
        created = create(physical_id, new, stack_name)  # every property but Description replaces
        if created[0] != physical_id:
            delete(physical_id, old)
        return created

    return {"create": create, "update": update, "delete": delete}


# ---------------------------------------------------------- Glue::SecurityConfiguration


def _security_configuration_create(logical_id: str, props: dict, stack_name: str):
    request = {"Name": props["Name"], "EncryptionConfiguration": props["EncryptionConfiguration"]}
    _call(glue._create_security_configuration, request, "AWS::Glue::SecurityConfiguration create")
    return props["Name"], {}


def _security_configuration_delete(physical_id: str, props: dict) -> None:
    glue._delete_security_configuration({"Name": physical_id})  # gone already is fine


def _security_configuration_update(physical_id: str, old: dict, new: dict, stack_name: str):
    _security_configuration_delete(physical_id, old)  # every property replaces
    return _security_configuration_create(physical_id, new, stack_name)


# ------------------------------------------------------------------- Athena::NamedQuery


def _named_query_create(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
    request = {
        key: props[key]
        for key in ("Name", "Description", "Database", "QueryString", "WorkGroup")
        if key in props
    }
    body = _call(athena._create_named_query, request, "AWS::Athena::NamedQuery create")
    query_id = json.loads(body)["NamedQueryId"]
    return query_id, {"NamedQueryId": query_id}


def _named_query_delete(physical_id: str, props: dict) -> None:
    athena._delete_named_query({"NamedQueryId": physical_id})


def _named_query_update(physical_id: str, old: dict, new: dict, stack_name: str):
    created = _named_query_create(physical_id, new, stack_name)  # every property replaces
    _named_query_delete(physical_id, old)
    return created


#: The handlers this program adds, by resource type.
EXTRA_HANDLERS: dict[str, Handler] = {
    "AWS::EC2::FlowLog": {
        "create": _flow_log_create,
        "update": lambda pid, old, new, stack: _replace(_FLOW_LOG, pid, old, new, stack),
        "delete": _flow_log_delete,
    },
    "AWS::EC2::SecurityGroupIngress": _rule_handler(egress=False),
    "AWS::EC2::SecurityGroupEgress": _rule_handler(egress=True),
    "AWS::Glue::SecurityConfiguration": {
        "create": _security_configuration_create,
        "update": _security_configuration_update,
        "delete": _security_configuration_delete,
    },
    "AWS::Athena::NamedQuery": {
        "create": _named_query_create,
        "update": _named_query_update,
        "delete": _named_query_delete,
    },
}
EXTRA_HANDLERS.update(extra_governance.HANDLERS)
_FLOW_LOG = "AWS::EC2::FlowLog"


def _replace(kind: str, physical_id: str, old: dict, new: dict, stack_name: str):
    handler = EXTRA_HANDLERS[kind]
    created = handler["create"](physical_id, new, stack_name)
    handler["delete"](physical_id, old)
    return created


# ------------------------------------------------------------------------ S3::Bucket Tags


def _tagging_xml(tags: list[dict[str, str]]) -> bytes:
    body = "".join(
        f"<Tag><Key>{escape(t['Key'])}</Key><Value>{escape(t['Value'])}</Value></Tag>"
        for t in tags or []
    )
    return f"<Tagging><TagSet>{body}</TagSet></Tagging>".encode()


#: (template property, to the S3 API's XML, put, delete): the shape of MiniStack's own table.
EXTRA_BUCKET_CONFIGURATIONS = (
    ("Tags", _tagging_xml, s3._put_bucket_tagging, s3._delete_bucket_tagging),
)


# ------------------------------------------------------- Kinesis::Stream StreamEncryption


def _apply_stream_encryption(name: str, encryption: dict[str, str] | None) -> None:
    if encryption:
        request = {"StreamName": name, **encryption}  # EncryptionType, KeyId
        _call(kinesis._start_stream_encryption, request, "AWS::Kinesis::Stream encryption")
    else:
        _call(kinesis._stop_stream_encryption, {"StreamName": name}, "AWS::Kinesis::Stream")


def _with_stream_encryption(handler: Handler) -> Handler:
    """MiniStack's stream handler, then StartStreamEncryption with the template's key."""
    create, update = handler["create"], handler.get("update")

    def create_encrypted(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
        physical_id, attributes = create(logical_id, props, stack_name)
        _apply_stream_encryption(physical_id, props.get("StreamEncryption"))
        return physical_id, attributes

    wrapped = {**handler, "create": create_encrypted}
    if update is not None:

        def update_encrypted(*args: Any) -> tuple[str, dict]:
            physical_id, attributes = update(*args)
            _apply_stream_encryption(physical_id, args[2].get("StreamEncryption"))  # new props
            return physical_id, attributes

        wrapped["update"] = update_encrypted
    return wrapped


def register() -> list[str]:
    """Add the handlers to MiniStack's table; refuses to replace one MiniStack already has
    (a newer MiniStack that provisions the type itself should be used as it is)."""
    added = []
    for kind, handler in EXTRA_HANDLERS.items():
        if kind in provisioners._RESOURCE_HANDLERS:
            continue
        provisioners._RESOURCE_HANDLERS[kind] = handler
        added.append(kind)
    for kind, properties in extra_governance.REPLACING_PROPERTIES.items():
        provisioners._REPLACING_PROPERTIES.setdefault(kind, properties)
    handlers = provisioners._RESOURCE_HANDLERS
    handlers["AWS::Kinesis::Stream"] = _with_stream_encryption(handlers["AWS::Kinesis::Stream"])
    added.append("AWS::Kinesis::Stream StreamEncryption")
    for kind, complete in {**extra_dynamodb.WRAPPERS, **extra_sns.WRAPPERS}.items():
        handlers[kind] = complete(handlers[kind])
        added.append(f"{kind} (completed)")
    applied = {entry[0] for entry in provisioners._S3_BUCKET_CONFIGURATIONS}
    for entry in EXTRA_BUCKET_CONFIGURATIONS:
        if entry[0] not in applied:
            provisioners._S3_BUCKET_CONFIGURATIONS = (
                *provisioners._S3_BUCKET_CONFIGURATIONS,
                entry,
            )
            added.append(f"AWS::S3::Bucket {entry[0]}")
    return added


def main() -> None:
    added = register()
    print(
        f"ministack_extras: CloudFormation handlers added for {', '.join(added) or 'nothing'} "
        f"(account {get_account_id()}, region {get_region()})",
        flush=True,
    )
    ministack_app.main()


if __name__ == "__main__":
    main()
