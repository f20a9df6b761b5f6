"""``MlBlueprintsChecks``: the project's rule table as a CDK validation plugin.

cdk-nag 3's packs (``NagPack``) implement CDK's ``IPolicyValidationPlugin`` and are
registered with ``Validations.of(app).add_plugins(...)``; this plugin is registered the
same way, next to them. CDK calls :meth:`MlBlueprintsChecks.validate` after synthesis with
the templates' paths; each finding names the resource by logical id and template, CDK maps
it to its construct path, applies the acknowledgments recorded with
``Validations.of(scope).acknowledge`` (``MlBlueprints::MlBlueprints-<Rule>``), writes the
rest to ``cdk.out/validation-report.json`` and fails ``app.synth()`` when any is left.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import jsii

from ml_blueprints.rules import PACK, RULES, evaluate


@jsii.implements(cdk.IPolicyValidationPlugin)
class MlBlueprintsChecks:
    """The ``MlBlueprints`` rule pack. Every finding is an error (fails synthesis unless
    acknowledged)."""

    @property
    def name(self) -> str:
        return PACK

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        return [rule.finding for rule in RULES]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        by_rule: dict[str, list[cdk.PolicyViolatingResource]] = {}
        descriptions: dict[str, tuple[str, str]] = {}
        for template_path in context.template_paths:
            template = json.loads(Path(template_path).read_text())
            for finding in evaluate(template):
                rule = finding.rule
                descriptions[rule.finding] = (rule.info, rule.explanation)
                by_rule.setdefault(rule.finding, []).append(
                    cdk.PolicyViolatingResource(
                        resource_logical_id=finding.logical_id,
                        template_path=template_path,
                        locations=["Properties"],
                    )
                )
        violations = [
            cdk.PolicyViolation(
                rule_name=rule_name,
                description=descriptions[rule_name][0],
                fix=descriptions[rule_name][1],
                severity="error",
                violating_resources=resources,
            )
            for rule_name, resources in by_rule.items()
        ]
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations)
