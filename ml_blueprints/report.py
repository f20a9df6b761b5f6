"""Reads a synthesized cloud assembly (``cdk.out/``) without starting the CDK.

``python -m ml_blueprints.report cdk.out`` is the summary ``make synth`` ends with: the
templates, each rule pack's result, every acknowledged finding with its reason, and the
cfn-lint result. It exits non-zero when a pack has open findings or cfn-lint finds errors.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml_blueprints.packs import RULE_PACKS


@dataclass(frozen=True)
class Acknowledged:
    """A finding a rule pack reported and the app acknowledged."""

    pack: str
    rule: str
    path: str
    acknowledged_at: str
    reason: str


@dataclass
class ValidationSummary:
    """What ``validation-report.json`` says, per pack."""

    open_findings: dict[str, list[str]] = field(default_factory=dict)
    acknowledged: list[Acknowledged] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(self.open_findings.values())


def templates(outdir: Path) -> list[Path]:
    """The CloudFormation templates in ``outdir``, by name."""
    return sorted(outdir.glob("*.template.json"))


def read_validation_report(outdir: Path) -> ValidationSummary:
    """Parse ``outdir/validation-report.json``. A pack with nothing to report is absent from
    the file, and counts as clean; a missing file means no pack ran (raises)."""
    report_file = outdir / "validation-report.json"
    if not report_file.exists():
        raise FileNotFoundError(
            f"{report_file} is missing: the app did not run the compliance rule packs"
        )
    try:
        report = json.loads(report_file.read_text())
    except IsADirectoryError:
        raise ReportError(f"{report_file}: is a directory, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{report_file}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise ReportError(f"{report_file}: not valid JSON ({error}): rerun `make synth`") from None
    try:
        return _summary(report)
    except (AttributeError, KeyError, TypeError) as error:
        raise ReportError(
            f"{report_file}: not a CDK validation report ({type(error).__name__}: {error}): "
            "rerun `make synth`"
        ) from None


class ReportError(ValueError):
    """``validation-report.json`` exists but cannot be read as a validation report."""


def _summary(report: object) -> ValidationSummary:
    if not isinstance(report, dict):
        raise TypeError(f"the top level is a {type(report).__name__}, not an object")
    summary = ValidationSummary(open_findings={pack: [] for pack in RULE_PACKS})
    for plugin in report.get("pluginReports", []):
        pack = plugin.get("pluginName", "?")
        summary.open_findings[pack] = [
            f"{v['ruleName']} at {c['constructPath']}"
            for v in plugin.get("violations", [])
            for c in v.get("violatingConstructs", [])
        ]
        for suppressed in plugin.get("suppressedViolations", []):
            for construct in suppressed.get("violatingConstructs", []):
                summary.acknowledged.append(
                    Acknowledged(
                        pack=pack,
                        rule=suppressed.get("ruleName", "?"),
                        path=construct.get("constructPath", "?"),
                        acknowledged_at=suppressed.get("acknowledgedAt", "?"),
                        reason=suppressed.get("reason", ""),
                    )
                )
    return summary


def lint_errors(template: Path) -> tuple[list[str], list[str]]:
    """cfn-lint's errors and warnings for one template, as printable lines."""
    from cfnlint.api import lint  # a dev dependency: imported only when linting

    matches = lint(template.read_text())
    errors = [f"{template.name}: {m}" for m in matches if m.rule.id.startswith("E")]
    warnings = [f"{template.name}: {m}" for m in matches if m.rule.id.startswith("W")]
    return errors, warnings


def summarize(outdir: Path) -> tuple[str, bool]:
    """The printable summary of ``outdir`` and whether it is clean."""
    found = templates(outdir)
    lines = [f"templates: {len(found)} in {outdir}/ ({', '.join(t.name for t in found)})"]
    summary = read_validation_report(outdir)
    for pack, findings in summary.open_findings.items():
        lines.append(f"rule pack {pack}: {len(findings)} unacknowledged findings")
        lines.extend(f"  OPEN {finding}" for finding in findings)
    lines.append(f"acknowledged findings: {len(summary.acknowledged)}")
    by_reason: dict[str, list[Acknowledged]] = {}
    for ack in summary.acknowledged:
        by_reason.setdefault(ack.reason, []).append(ack)
    for reason, acks in by_reason.items():
        rules = sorted({a.rule for a in acks})
        paths = sorted({a.acknowledged_at for a in acks})
        lines.append(f"  {', '.join(rules)} on {', '.join(paths)}")
        lines.append(f"    reason: {reason}")
    lint_error_count = 0
    warning_count = 0
    for template in found:
        errors, warnings = lint_errors(template)
        lint_error_count += len(errors)
        warning_count += len(warnings)
        lines.extend(f"  LINT {e}" for e in errors)
    lines.append(f"cfn-lint: {lint_error_count} errors, {warning_count} warnings")
    lines.append(idle_cost_line(outdir))
    return "\n".join(lines), summary.clean and lint_error_count == 0


def idle_cost_line(outdir: Path) -> str:
    """What the synthesized stacks cost idle, in one line (``ml-blueprints cost`` has the
    details)."""
    from ml_blueprints.assembly import AssemblyError
    from ml_blueprints.cost import estimate, usd

    try:
        report = estimate(outdir)
    except AssemblyError as error:
        return f"idle cost: not estimated ({error})"
    per_stack = ", ".join(f"{s.name} {usd(s.idle_usd_month)}" for s in report.stacks)
    line = (
        f"idle cost: {usd(report.idle_usd_month)} a month at {report.region} list prices "
        f"({per_stack}); `ml-blueprints cost` for details"
    )
    if report.unclassified_types:
        line += f"; types without a cost class: {', '.join(report.unclassified_types)}"
    return line


if __name__ == "__main__":
    text, ok = summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
    print(text)
    sys.exit(0 if ok else 1)


def resource_counts(outdir: Path) -> dict[str, dict[str, int]]:
    """Resource counts by type, per stack (by template name without ``.template.json``)."""
    counts: dict[str, dict[str, int]] = {}
    for template in templates(outdir):
        resources = json.loads(template.read_text()).get("Resources", {})
        per_type: dict[str, int] = {}
        for resource in resources.values():
            per_type[resource["Type"]] = per_type.get(resource["Type"], 0) + 1
        counts[template.name.removesuffix(".template.json")] = dict(sorted(per_type.items()))
    return counts


def compliance_report(outdir: Path) -> dict[str, object]:
    """Everything a reviewer needs from ``outdir``: packs, counts, acknowledged findings."""
    summary = read_validation_report(outdir)
    return {
        "rule_packs": {
            pack: {"open_findings": findings} for pack, findings in summary.open_findings.items()
        },
        "stacks": resource_counts(outdir),
        "acknowledged": [
            {
                "pack": a.pack,
                "rule": a.rule,
                "path": a.path,
                "acknowledged_at": a.acknowledged_at,
                "reason": a.reason,
            }
            for a in sorted(summary.acknowledged, key=lambda a: (a.path, a.rule))
        ],
    }


def markdown(report: dict[str, object]) -> str:
    """``compliance_report`` as a Markdown page."""
    lines = ["# ml-blueprints compliance report", "", "## Rule packs", ""]
    packs = report["rule_packs"]
    assert isinstance(packs, dict)
    lines += ["| pack | unacknowledged findings |", "|---|---|"]
    lines += [f"| {pack} | {len(v['open_findings'])} |" for pack, v in packs.items()]
    lines += ["", "## Resources per stack", ""]
    stacks = report["stacks"]
    assert isinstance(stacks, dict)
    for stack, counts in stacks.items():
        lines += [
            f"### {stack} ({sum(counts.values())} resources)",
            "",
            "| type | count |",
            "|---|---|",
        ]
        lines += [f"| {kind} | {count} |" for kind, count in counts.items()]
        lines.append("")
    acknowledged = report["acknowledged"]
    assert isinstance(acknowledged, list)
    lines += [
        f"## Acknowledged findings ({len(acknowledged)})",
        "",
        "| rule | resource | acknowledged at | reason |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {a['rule']} | {a['path']} | {a['acknowledged_at']} | {a['reason']} |"
        for a in acknowledged
    ]
    return "\n".join(lines) + "\n"
