"""Reading the ingestion layer's synthesized resources: policies by role, statements by
Sid, the one resource of a type whose logical id starts with a construct's id."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Synthesized


def one(synth: Synthesized, stack: str, resource_type: str, prefix: str = "") -> tuple[str, Any]:
    """The single resource of ``resource_type`` whose logical id starts with ``prefix``."""
    found = [
        (logical_id, resource)
        for logical_id, resource in synth.resources(stack, resource_type).items()
        if logical_id.startswith(prefix)
    ]
    assert len(found) == 1, [f[0] for f in found]
    return found[0]


def role_statements(synth: Synthesized, stack: str, role_prefix: str) -> list[dict[str, Any]]:
    """Every statement of the customer-managed policies attached to the role whose logical
    id starts with ``role_prefix`` (a :class:`ManagedPolicyRole`'s grants)."""
    role_id, role = one(synth, stack, "AWS::IAM::Role", role_prefix)
    assert "Policies" not in role["Properties"], "no inline policies"
    statements = []
    for policy_id, policy in synth.resources(stack, "AWS::IAM::ManagedPolicy").items():
        attached = [r.get("Ref") for r in policy["Properties"].get("Roles", [])]
        managed = [
            m.get("Ref") for m in role["Properties"].get("ManagedPolicyArns", []) if "Ref" in m
        ]
        if role_id in attached or policy_id in managed:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements if "Sid" in s}


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        found.update(value if isinstance(value, list) else [value])
    return found


def text(value: Any) -> str:
    """A template value as compact JSON, for substring checks on joins and references."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def definition(state_machine: dict[str, Any]) -> dict[str, Any]:
    """A state machine's definition with every token rendered as ``TOKEN``."""
    body = state_machine["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))
