"""The compliance gates: cdk-nag 3 rule packs and the one way to acknowledge a finding.

cdk-nag 3 runs as a CDK validation plugin. :func:`apply_rule_packs` registers its four packs
and the project's own (:mod:`ml_blueprints.rules`, for the types cdk-nag does not check) on
the app; ``app.synth()`` (and so ``cdk synth``) then fails with ``ValidationFailed`` on
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

import functools
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct, IValidation

from ml_blueprints.packs import RULE_PACKS
from ml_blueprints.rules.pack import MlBlueprintsChecks

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
    """Register the four cdk-nag rule packs and the project's own (``MlBlueprints``) on
    ``app`` as validation plugins."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        HIPAASecurityChecks(app),
        NIST80053R5Checks(app),
        PCIDSS321Checks(app),
        MlBlueprintsChecks(),
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


#: The source file of each control-framework pack inside cdk-nag's package.
_PACK_SOURCES = {
    "HIPAA.Security": "hipaa-security.js",
    "NIST.800.53.R5": "nist-800-53-r5.js",
    "PCI.DSS.321": "pci-dss-321.js",
}


@functools.cache
def _pack_source(pack: str) -> str:
    import cdk_nag

    bundle = next(Path(cdk_nag.__file__).parent.glob("_jsii/cdk-nag@*.jsii.tgz"))
    with tarfile.open(bundle) as archive:
        member = next(
            m for m in archive.getmembers() if m.name.endswith(f"/packs/{_PACK_SOURCES[pack]}")
        )
        return archive.extractfile(member).read().decode()  # type: ignore[union-attr]


@functools.cache
def packs_checking(rule: str) -> tuple[str, ...]:
    """The control-framework packs (HIPAA, NIST, PCI) that include ``rule``, such as
    ``"LambdaDLQ"``: read from the installed cdk-nag, so it cannot drift from it."""
    pattern = re.compile(rf"\b{re.escape(rule)}\b")
    return tuple(pack for pack in _PACK_SOURCES if pattern.search(_pack_source(pack)))


def acknowledge_rule(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge control-framework ``rule`` (e.g. ``"LambdaDLQ"``) on ``scope`` in every
    pack that has it: ``HIPAA.Security-LambdaDLQ``, ``NIST.800.53.R5-LambdaDLQ``..."""
    packs = packs_checking(rule)
    if not packs:
        raise ValueError(f"acknowledge_rule: rule={rule!r}: a rule of {', '.join(_PACK_SOURCES)}")
    for pack in packs:
        acknowledge(scope, f"{pack}-{rule}", reason)


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
                source, _, finding = rule_id.partition("::")
                found.append(AcknowledgedFinding(construct.node.path, source, finding, str(reason)))
    return found


def acknowledged_findings_in_assembly(outdir: Path) -> list[AcknowledgedFinding]:
    """Every acknowledgment the app synthesized to ``outdir`` records, stack by stack (nested
    assemblies followed): the construct metadata CDK writes to the cloud assembly, that is,
    what :func:`acknowledged_findings` finds in the app's tree, read without the app."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    manifest = json.loads((outdir / "manifest.json").read_text())
    found = []
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "cdk:cloud-assembly":
            found += acknowledged_findings_in_assembly(outdir / properties["directoryName"])
            continue
        metadata = dict(artifact.get("metadata", {}))
        if "additionalMetadataFile" in artifact:
            metadata.update(json.loads((outdir / artifact["additionalMetadataFile"]).read_text()))
        for path, entries in metadata.items():
            for entry in entries:
                if entry.get("type") != key:
                    continue
                for rule_id, reason in entry["data"].items():
                    source, _, finding = rule_id.partition("::")
                    found.append(
                        AcknowledgedFinding(path.removeprefix("/"), source, finding, str(reason))
                    )
    return found


def acknowledge_wildcard_resources(
    scope: IConstruct, resources: list[str] | tuple[str, ...], reason: str
) -> None:
    """Acknowledge the ``AwsSolutions-IAM5[Resource::...]`` finding of each of ``resources``
    that has a wildcard once resolved (the others raise no finding and are skipped).

    cdk-nag names the finding after the resource's final CloudFormation value, which for a
    reference to another stack is only known once CDK has resolved cross-stack references.
    So the acknowledgment is made from a construct validation, which CDK runs after that and
    before the rule packs.
    """
    if (why := check_reason(reason)) is not None:
        raise ValueError(f"acknowledge: reason: {why}")
    scope.node.add_validation(_LateWildcardAcknowledgment(scope, tuple(resources), reason))


@jsii.implements(IValidation)
class _LateWildcardAcknowledgment:
    def __init__(self, scope: IConstruct, resources: tuple[str, ...], reason: str) -> None:
        self._scope = scope
        self._resources = resources
        self._reason = reason

    def validate(self) -> list[str]:
        for resource in self._resources:
            finding = wildcard_resource_finding(self._scope, resource)
            if "*" in finding.removeprefix("AwsSolutions-IAM5"):
                # cdk-nag reports only resources with a wildcard; a resource that resolves to
                # none (a literal model URI, an image repository) is acknowledged by nobody.
                acknowledge(self._scope, finding, self._reason)
        return []


def wildcard_resource_finding(scope: IConstruct, resource: str) -> str:
    """The ``AwsSolutions-IAM5[Resource::...]`` finding cdk-nag reports for ``resource``.

    cdk-nag names a resource by its value as resolved in ``scope``'s stack, flattened by
    :func:`flatten_cfn_reference`. Call it once cross-stack references are resolved (from a
    construct validation, as :func:`acknowledge_wildcard_resources` does): only then is a
    reference to another stack's resource the ``Fn::ImportValue`` (strong reference) or the
    output lookup (weak reference) that cdk-nag sees.
    """
    from aws_cdk import Stack  # local: keep the module's import surface small

    flat = flatten_cfn_reference(Stack.of(scope).resolve(resource))
    return f"AwsSolutions-IAM5[Resource::{flat}]"


def flatten_cfn_reference(value: object) -> str:
    """A resolved CloudFormation value as cdk-nag 3 flattens it to name a finding.

    A port of cdk-nag's ``flattenCfnReference`` (``src/utils/flatten-cfn-reference.ts``):
    text as is, with ``${`` and ``}`` turned into ``<`` and ``>``; ``Fn::Join`` pieces joined
    with its delimiter; ``Fn::Sub`` as its (flattened) argument; ``Fn::GetAtt`` as
    ``<LogicalId.Attribute>``; ``Fn::ImportValue`` as the export's name, without the
    intrinsic; ``Ref`` as ``<LogicalId>``; anything else (a weak cross-stack reference, a
    list, a number) as compact JSON. The checks run in that order, and an intrinsic counts
    only when its value is truthy in JavaScript, as in cdk-nag.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if _js_truthy(value.get("Fn::Join")):
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if _js_truthy(value.get("Fn::Sub")):
            return flatten_cfn_reference(value["Fn::Sub"])
        if _js_truthy(value.get("Fn::GetAtt")):
            logical_id, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(logical_id)}.{flatten_cfn_reference(attribute)}>"
        if _js_truthy(value.get("Fn::ImportValue")):
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if _js_truthy(value.get("Ref")):
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _js_truthy(value: object) -> bool:
    """JavaScript truthiness: only ``undefined``/``null``, ``false``, ``0``, ``NaN`` and
    ``""`` are false (an empty list or object is true)."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0  # NaN != NaN
    return True
