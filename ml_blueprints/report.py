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
    report = json.loads(report_file.read_text())
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
    return "\n".join(lines), summary.clean and lint_error_count == 0


if __name__ == "__main__":
    text, ok = summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
    print(text)
    sys.exit(0 if ok else 1)
