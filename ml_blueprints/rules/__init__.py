"""The project's own rule pack, ``MlBlueprints``: the resource types this project creates
that no cdk-nag 3 pack checks (Redshift Serverless, DynamoDB global tables, Budgets,
CloudTrail Lake, Glue ML transforms, DMS Serverless and DMS endpoints, IoT Core policies and
rules, Batch job definitions and compute environments, DataSync tasks and SMB locations).

Laid out as cdk-nag lays out ``src/rules/<service>/`` and ``src/packs/``: one module per
service holds small pure rules (:class:`~ml_blueprints.rules.base.Rule`: a function of one
resource's CloudFormation properties); :data:`RULES` is the table of them all;
:func:`evaluate` applies it to a template; :class:`ml_blueprints.rules.pack.MlBlueprintsChecks`
runs it as a CDK validation plugin next to the cdk-nag packs. Findings are named
``MlBlueprints-<Rule>`` and acknowledged like any other, with
``ml_blueprints.compliance.acknowledge``.

This module does not import the CDK, so the rules can be used on any template.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ml_blueprints.rules import (
    batch,
    budgets,
    cloudtrail,
    datasync,
    dms,
    dynamodb,
    glue,
    iot,
    redshift_serverless,
)
from ml_blueprints.rules.base import PACK, Rule

#: Every rule of the pack, by service.
RULES: tuple[Rule, ...] = (
    *redshift_serverless.RULES,
    *dynamodb.RULES,
    *budgets.RULES,
    *cloudtrail.RULES,
    *glue.RULES,
    *dms.RULES,
    *iot.RULES,
    *batch.RULES,
    *datasync.RULES,
)

#: The resource types the pack checks.
CHECKED_TYPES: frozenset[str] = frozenset(rule.resource_type for rule in RULES)


@dataclass(frozen=True)
class Finding:
    """A resource of a template that breaks a rule."""

    rule: Rule
    logical_id: str


def evaluate(template: Mapping[str, Any]) -> Iterator[Finding]:
    """Every finding in ``template`` (a CloudFormation template as a dict), in template and
    rule order."""
    for logical_id, resource in (template.get("Resources") or {}).items():
        resource_type = resource.get("Type")
        if resource_type not in CHECKED_TYPES:
            continue
        properties = resource.get("Properties") or {}
        for rule in RULES:
            if rule.resource_type == resource_type and not rule.check(properties):
                yield Finding(rule, logical_id)


__all__ = ["CHECKED_TYPES", "PACK", "RULES", "Finding", "Rule", "evaluate"]
