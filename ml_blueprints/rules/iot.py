"""Rules for AWS IoT Core policies (``AWS::IoT::Policy``) and topic rules
(``AWS::IoT::TopicRule``); cdk-nag 3.0.2 has none.

A device policy is what a stolen device certificate can do: a wildcard action or resource
lets one device connect as any other, publish to every topic or read every message.
"""

from __future__ import annotations

import re
from typing import Any

from ml_blueprints.rules.base import Properties, Rule, get_path

POLICY = "AWS::IoT::Policy"
TOPIC_RULE = "AWS::IoT::TopicRule"
#: The IoT SQL version the rules must name (2015-10-08, the default, is a beta).
SQL_VERSION = "2016-03-23"
_POLICY_VARIABLE = re.compile(r"\$\{[^}]*\}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    """A resource as text: literal strings as they are, ``Fn::Join`` of literals and
    references (references count as fixed names)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(p if isinstance(p, str) else "REF" for p in parts)
    if isinstance(value, dict) and len(value) == 1:
        return "REF"
    return None


def policy_no_wildcards(properties: Properties) -> bool:
    """Every Allow statement names its actions (no ``*``) and its resources (no ``*``, and
    no MQTT wildcard ``#`` or ``+`` in a topic); policy variables such as
    ``${iot:Connection.Thing.ThingName}`` are specific and allowed."""
    document = properties.get("PolicyDocument")
    statements = get_path(document, "Statement")
    if not isinstance(statements, list) or not statements:
        return False
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            return False
        for action in _as_list(statement.get("Action")):
            if not isinstance(action, str) or "*" in action:
                return False
        for resource in _as_list(statement.get("Resource")):
            text = _text(resource)
            if text is None:
                return False
            text = _POLICY_VARIABLE.sub("VAR", text)
            if "*" in text or "#" in text or "+" in text:
                return False
    return True


def topic_rule_error_action(properties: Properties) -> bool:
    """The rule has an error action: without one, a message whose action fails is lost."""
    return get_path(properties, "TopicRulePayload", "ErrorAction") is not None


def topic_rule_sql_version(properties: Properties) -> bool:
    """The rule names SQL version 2016-03-23 (absent means the 2015-10-08 beta)."""
    return get_path(properties, "TopicRulePayload", "AwsIotSqlVersion") == SQL_VERSION


RULES: tuple[Rule, ...] = (
    Rule(
        "IoTPolicyNoWildcards",
        POLICY,
        "The IoT policy allows wildcard actions or resources (or MQTT topic wildcards).",
        "A device certificate with a wildcard policy can connect as any device and publish "
        "or subscribe anywhere; scope each device to its own client id and topics with "
        "policy variables such as ${iot:Connection.Thing.ThingName}.",
        policy_no_wildcards,
    ),
    Rule(
        "IoTTopicRuleErrorAction",
        TOPIC_RULE,
        "The IoT topic rule has no error action.",
        "When an action fails (throttling, a permission, a full stream) IoT drops the "
        "message unless an error action keeps it.",
        topic_rule_error_action,
    ),
    Rule(
        "IoTTopicRuleSqlVersion",
        TOPIC_RULE,
        "The IoT topic rule does not use SQL version 2016-03-23.",
        "Without a version IoT evaluates the rule with the 2015-10-08 beta, whose behaviour "
        "differs (nested objects, arrays) and may change.",
        topic_rule_sql_version,
    ),
)
