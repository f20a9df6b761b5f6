"""DeviceIngestion: MQTT telemetry from AWS IoT Core into the real-time layer's stream.

Devices publish JSON to ``devices/<thing name>/telemetry``. A topic rule shapes each message
into what the real-time layer's Firehose transform requires (``event_id``, ``event_type``,
``event_time``) and adds the device id from the topic, then puts it on the Kinesis stream
(partitioned by device, so one device's messages stay in order). What the rule cannot
deliver lands under the error prefix with IoT's own account of why; a message whose
``device_id`` contradicts its topic is kept there too, under ``device-id-mismatch/``. A
device policy lets a thing connect only as itself and publish only to its own topic.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.ingestion.common import (
    PREFIX_ALLOWED,
    key_use_through_s3,
    valid_prefix,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props

#: The IoT SQL version the rules are written for (the default, 2015-10-08, is a beta).
SQL_VERSION = "2016-03-23"
#: The device's own thing name, as IoT substitutes it in a policy.
THING_NAME = "${iot:Connection.Thing.ThingName}"
_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_-]+$")
_RULE_NAME = re.compile(r"^[a-zA-Z0-9_]{1,128}$")
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class DeviceIngestion(Construct):
    """An IoT Core topic rule from ``<topic_root>/+/<topic_leaf>`` into ``stream``.

    Defaults:

    - Topics ``devices/<thing name>/telemetry`` (``topic_root`` ``"devices"``,
      ``topic_leaf`` ``"telemetry"``; levels of letters, digits, '_' and '-').
    - The rule (SQL version 2016-03-23) keeps the whole JSON payload and sets
      ``device_id`` from the topic; ``event_id`` (a new UUID), ``event_type``
      (``event_type``: ``"device_telemetry"``) and ``event_time`` (the broker's receive
      time, epoch milliseconds) unless the device sent its own. Messages whose own
      ``device_id`` differs from the topic's are not put on the stream (see below).
    - Kinesis action into ``stream`` with the device id as partition key.
    - Failures: the rule's error action writes IoT's error record (the rule, the topic,
      the client, every failed action with its message, the payload in base64) to
      ``errors/<error_prefix>/rule-action-failed/year=YYYY/month=MM/day=DD/hour=HH/`` in
      ``zone`` of ``lake``; a second rule writes mismatching messages (with the topic's
      device id beside them) to ``errors/<error_prefix>/device-id-mismatch/...``.
      ``error_prefix``: ``"devices"``.
    - One role for both rules, only IoT of this account can assume for these rules:
      ``kinesis:PutRecord`` on the stream, ``s3:PutObject`` under the error prefix and the
      key for both; named ``role_name`` (a name is made from the lake's exempt prefix when
      the lake is in another stack: IoT writes to S3 from outside the VPC).
    - A device policy (attach it to each thing's certificate): ``iot:Connect`` only as a
      client id equal to a thing name attached to the certificate, ``iot:Publish`` only to
      ``<topic_root>/<that thing name>/<topic_leaf>``; nothing else.

    Attributes: ``rule``, ``mismatch_rule``, ``role``, ``device_policy``, ``sql``,
    ``topic_filter``, ``error_prefix``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stream: kinesis.IStream,
        lake: SecureDataLake,
        zone: str = "raw",
        error_prefix: str = "devices",
        topic_root: str = "devices",
        topic_leaf: str = "telemetry",
        event_type: str = "device_telemetry",
        rule_name: str | None = None,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors(f"DeviceIngestion {self.node.path}")
        errors.require(
            zone in lake.zones, "zone", zone, f"one of the lake's zones ({', '.join(lake.zones)})"
        )
        errors.require(valid_prefix(error_prefix), "error_prefix", error_prefix, PREFIX_ALLOWED)
        for prop, value in (("topic_root", topic_root), ("topic_leaf", topic_leaf)):
            errors.require(
                isinstance(value, str)
                and all(_TOPIC_LEVEL.match(level) for level in value.split("/"))
                and not value.startswith("$"),
                prop,
                value,
                "MQTT topic levels of letters, digits, '_' and '-' separated by '/', no "
                "wildcards, not a reserved '$' topic",
            )
        errors.require(
            isinstance(event_type, str) and bool(_EVENT_TYPE.match(event_type)),
            "event_type",
            event_type,
            "1-64 characters: lowercase letters, digits, '_', '.', '-', starting with a letter "
            "(the transform lower-cases event types)",
        )
        if rule_name is not None:
            errors.require(
                bool(_RULE_NAME.match(rule_name)) and len(rule_name) <= 119,
                "rule_name",
                rule_name,
                "1-119 letters, digits and '_' (a second rule adds '_mismatch')",
            )
        errors.raise_if_any()
        role_name = lake.outside_role_name(self, "iot", role_name, owner="DeviceIngestion")

        stack = cdk.Stack.of(self)
        bucket = lake.bucket(zone)
        self.error_prefix = f"errors/{error_prefix}"
        self.topic_filter = f"{topic_root}/+/{topic_leaf}"
        device_level = len(topic_root.split("/")) + 1
        device = f"topic({device_level})"
        self.sql = (
            f"SELECT *, {device} AS device_id, "
            "CASE isUndefined(event_id) WHEN true THEN newuuid() ELSE event_id END AS event_id, "
            f"CASE isUndefined(event_type) WHEN true THEN '{event_type}' ELSE event_type END "
            "AS event_type, "
            "CASE isUndefined(event_time) WHEN true THEN timestamp() ELSE event_time END "
            "AS event_time "
            f"FROM '{self.topic_filter}' "
            f"WHERE isUndefined(device_id) OR device_id = {device}"
        )
        self.mismatch_sql = (
            f"SELECT *, {device} AS topic_device_id, 'device_id_mismatch' AS error "
            f"FROM '{self.topic_filter}' "
            f"WHERE NOT (isUndefined(device_id) OR device_id = {device})"
        )
        name = rule_name or re.sub(r"[^a-zA-Z0-9_]", "_", f"mlbp_{cdk.Names.unique_id(self)}")[:119]
        rule_arns = [
            stack.format_arn(service="iot", resource="rule", resource_name=n)
            for n in (name, f"{name}_mismatch")
        ]
        self.role = ManagedPolicyRole(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": rule_arns},
                }
            ),
            description="IoT Core rules: put device messages on the stream, keep failures in S3",
        )
        errors_objects = f"{bucket.bucket_arn}/{self.error_prefix}/*"
        statements = [
            iam.PolicyStatement(
                sid="PutOnTheStream",
                actions=["kinesis:PutRecord"],
                resources=[stream.stream_arn],
            ),
            iam.PolicyStatement(
                sid="KeepFailuresUnderTheErrorPrefix",
                actions=["s3:PutObject"],
                resources=[errors_objects],
            ),
            key_use_through_s3(
                "EncryptFailures",
                ["kms:GenerateDataKey"],
                lake.key,
                bucket,
                [errors_objects],
            ),
        ]
        if stream.encryption_key is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="EncryptOnTheStream",
                    actions=["kms:GenerateDataKey"],
                    resources=[stream.encryption_key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"kinesis.{stack.region}.amazonaws.com"}
                    },
                )
            )
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        lake.admit_outside_role(self.role)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            [errors_objects],
            "IoT writes each failed message as a new object with a generated name; the "
            "wildcard is this construct's error prefix in one lake zone.",
        )

        hour_path = (
            'year=${parse_time("yyyy", timestamp(), "UTC")}/'
            'month=${parse_time("MM", timestamp(), "UTC")}/'
            'day=${parse_time("dd", timestamp(), "UTC")}/'
            'hour=${parse_time("HH", timestamp(), "UTC")}'
        )

        def to_errors(kind: str) -> iot.CfnTopicRule.ActionProperty:
            return iot.CfnTopicRule.ActionProperty(
                s3=iot.CfnTopicRule.S3ActionProperty(
                    bucket_name=bucket.bucket_name,
                    key=f"{self.error_prefix}/{kind}/{hour_path}/${{newuuid()}}.json",
                    role_arn=self.role.role_arn,
                )
            )

        self.rule = iot.CfnTopicRule(
            self,
            "Rule",
            rule_name=name,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=self.sql,
                aws_iot_sql_version=SQL_VERSION,
                description=f"Device telemetry from {self.topic_filter} to the stream",
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        kinesis=iot.CfnTopicRule.KinesisActionProperty(
                            stream_name=stream.stream_name,
                            partition_key=f"${{{device}}}",
                            role_arn=self.role.role_arn,
                        )
                    )
                ],
                error_action=to_errors("rule-action-failed"),
            ),
        )
        self.mismatch_rule = iot.CfnTopicRule(
            self,
            "MismatchRule",
            rule_name=f"{name}_mismatch",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=self.mismatch_sql,
                aws_iot_sql_version=SQL_VERSION,
                description=f"Messages on {self.topic_filter} whose device_id is not the "
                "topic's: kept under the error prefix",
                rule_disabled=False,
                actions=[to_errors("device-id-mismatch")],
                error_action=to_errors("rule-action-failed"),
            ),
        )
        for rule in (self.rule, self.mismatch_rule):
            # IoT checks that it may assume the role when the rule is created.
            rule.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]

        client = stack.format_arn(service="iot", resource="client", resource_name=THING_NAME)
        topic = stack.format_arn(
            service="iot",
            resource="topic",
            resource_name=f"{topic_root}/{THING_NAME}/{topic_leaf}",
        )
        self.device_policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ConnectOnlyAsItsOwnThing",
                        "Effect": "Allow",
                        "Action": "iot:Connect",
                        "Resource": client,
                        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                    },
                    {
                        "Sid": "PublishOnlyToItsOwnTopic",
                        "Effect": "Allow",
                        "Action": "iot:Publish",
                        "Resource": topic,
                    },
                ],
            },
        )

    @property
    def device_policy_name(self) -> str:
        """The device policy's name, to attach to each device certificate."""
        return self.device_policy.ref
