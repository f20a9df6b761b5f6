"""The compliance gates: cdk-nag 3 rule packs and the one way to acknowledge a finding.

cdk-nag 3 runs as a CDK validation plugin. :func:`apply_rule_packs` registers the four packs
on the app; ``app.synth()`` (and so ``cdk synth``) then fails with ``ValidationFailed`` on
any finding that is not acknowledged, and writes ``cdk.out/validation-report.json``.

:func:`acknowledge` is the only place the project accepts a finding. It takes the finding
exactly as cdk-nag names it (``AwsSolutions-IAM5[Resource::*]``,
``HIPAA.Security-S3BucketReplicationEnabled``), checks the pack and the reason, and records
it with CDK's ``Validations.of(scope).acknowledge``, qualified with the pack
(``AwsSolutions::AwsSolutions-IAM5[Resource::*]``). An unqualified id would be taken by
CDK as an annotation id and acknowledge nothing.

The summary ``make synth`` ends with is :mod:`ml_blueprints.report`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct

from ml_blueprints.packs import RULE_PACKS

#: Reasons that explain nothing. A reason must say why the finding is safe *here*.
GENERIC_REASONS = frozenset(
    {
        "",
        "n/a",
        "na",
        "none",
        "todo",
        "tbd",
        "ok",
        "fine",
        "ignore",
        "ignored",
        "suppressed",
        "acknowledged",
        "not needed",
        "not applicable",
        "false positive",
        "by design",
        "expected",
        "accepted",
        "known",
        "test",
        "wip",
    }
)
MIN_REASON_LENGTH = 40


@dataclass(frozen=True)
class AcknowledgedFinding:
    """One acknowledgment found in a construct tree. ``source`` is the rule pack, or the
    validation source CDK records for anything else (``Annotation``, CDK's own
    ``CloudFormation-Validate``)."""

    path: str
    source: str
    finding: str
    reason: str

    @property
    def is_rule_pack_finding(self) -> bool:
        return self.source in RULE_PACKS


def apply_rule_packs(app: App) -> None:
    """Register the four cdk-nag rule packs on ``app`` as validation plugins."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        HIPAASecurityChecks(app),
        NIST80053R5Checks(app),
        PCIDSS321Checks(app),
    )


def _pack_of(finding: str) -> str | None:
    for pack in RULE_PACKS:
        if finding.startswith(f"{pack}-") and len(finding) > len(pack) + 1:
            return pack
    return None


def check_reason(reason: str) -> str | None:
    """Why ``reason`` is not acceptable, or ``None`` if it is."""
    text = reason.strip()
    if text.lower().rstrip(".") in GENERIC_REASONS:
        return f"the reason {reason!r} is generic: say why the finding is safe here"
    if len(text) < MIN_REASON_LENGTH:
        return (
            f"the reason {reason!r} is too short ({len(text)} characters, at least "
            f"{MIN_REASON_LENGTH}): say why the finding is safe here"
        )
    return None


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one specific cdk-nag ``finding`` on ``scope`` (and its children).

    ``finding`` is the rule id as cdk-nag prints it, with the finding in brackets where the
    rule reports several (``AwsSolutions-IAM5[Action::s3:GetObject*]``). ``reason`` must say
    why it is safe here; empty, generic or very short reasons are rejected.
    """
    problems = []
    if _pack_of(finding) is None:
        problems.append(
            f"finding={finding!r}: a rule id of one of the packs "
            f"{', '.join(RULE_PACKS)}, e.g. 'AwsSolutions-IAM5[Resource::*]'"
        )
    if (why := check_reason(reason)) is not None:
        problems.append(f"reason: {why}")
    if problems:
        raise ValueError("acknowledge: " + "; ".join(problems))
    pack = _pack_of(finding)
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{pack}::{finding}", reason=reason))


def acknowledge_all(scope: IConstruct, findings: list[str] | tuple[str, ...], reason: str) -> None:
    """Acknowledge each of ``findings`` on ``scope`` with the same ``reason``."""
    for finding in findings:
        acknowledge(scope, finding, reason)


def acknowledged_findings(root: IConstruct) -> list[AcknowledgedFinding]:
    """Every acknowledgment recorded anywhere under ``root``, in tree order."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != key:
                continue
            for rule_id, reason in dict(entry.data).items():
                source, _, finding = rule_id.rpartition("::")
                found.append(AcknowledgedFinding(construct.node.path, source, finding, str(reason)))
    return found
