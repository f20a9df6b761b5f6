"""A small evaluator of the Deny statements in a synthesized bucket policy.

It answers "would this request be denied?" for the condition operators the project's
bucket policies use, with IAM's rules for missing keys (a negated operator matches a missing
key; ``ForAllValues`` matches an empty or missing one; ``Null`` tests presence). Values in
the template that are still CloudFormation intrinsics (``{"Ref": ...}``) are compared as
they are: a request context uses the same intrinsic to stand for the deployed value.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

Value = Any

_MISSING = object()


def _as_list(value: Value) -> list[Value]:
    return value if isinstance(value, list) else [value]


def _matches_action(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _is_object_resource(resource: Value) -> bool:
    return json.dumps(resource).endswith('/*"]]}') or (
        isinstance(resource, str) and resource.endswith("/*")
    )


def _equal(expected: Value, actual: Value) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return expected == actual
    return json.dumps(expected, sort_keys=True) == json.dumps(actual, sort_keys=True)


#: Pseudo parameters as the evaluated requests see them.
PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": "111122223333", "AWS::Region": "eu-west-1"}


def _render(value: Value) -> Value:
    """Render ``Fn::Join`` of literals and pseudo parameters to text; leave others as is."""
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        rendered = [_render(part) for part in parts]
        if all(isinstance(part, str) for part in rendered):
            return delimiter.join(rendered)
    if isinstance(value, dict) and value.get("Ref") in PSEUDO:
        return PSEUDO[value["Ref"]]
    return value


def _like(pattern: Value, actual: Value) -> bool:
    pattern = _render(pattern)
    if isinstance(pattern, str) and isinstance(actual, str):
        return fnmatch.fnmatchcase(actual, pattern)
    return _equal(pattern, actual)


def _condition_holds(operator: str, key: str, expected: Value, context: dict[str, Value]) -> bool:
    actual = context.get(key, _MISSING)
    expected_values = _as_list(expected)
    if operator == "Null":
        want_missing = str(expected).lower() == "true"
        return (actual is _MISSING) == want_missing
    if operator.startswith("ForAllValues:"):
        inner = operator.split(":", 1)[1]
        values = [] if actual is _MISSING else _as_list(actual)
        return all(_condition_holds(inner, key, expected, {key: v}) for v in values)
    if operator == "StringEquals":
        return actual is not _MISSING and any(_equal(e, actual) for e in expected_values)
    if operator == "StringNotEquals":
        return actual is _MISSING or not any(_equal(e, actual) for e in expected_values)
    if operator == "ArnNotLike":
        return actual is _MISSING or not any(_like(e, actual) for e in expected_values)
    if operator == "ArnLike":
        return actual is not _MISSING and any(_like(e, actual) for e in expected_values)
    if operator == "Bool":
        return actual is not _MISSING and str(actual).lower() == str(expected).lower()
    if operator == "NumericLessThan":
        return actual is not _MISSING and float(actual) < float(expected)
    raise NotImplementedError(f"condition operator {operator} is not modelled")


def denying_statements(
    policy: dict[str, Any], action: str, *, on_object: bool, context: dict[str, Value]
) -> list[str]:
    """The Sids (or indexes) of the Deny statements in ``policy`` that deny the request."""
    denied = []
    for index, statement in enumerate(policy["Statement"]):
        if statement["Effect"] != "Deny":
            continue
        if not any(_matches_action(p, action) for p in _as_list(statement["Action"])):
            continue
        resources = _as_list(statement["Resource"])
        if not any(_is_object_resource(r) == on_object for r in resources):
            continue
        conditions = statement.get("Condition", {})
        if all(
            _condition_holds(operator, key, expected, context)
            for operator, pairs in conditions.items()
            for key, expected in pairs.items()
        ):
            denied.append(statement.get("Sid", str(index)))
    return denied
