"""The cost report as Markdown (what ``ml-blueprints cost`` prints) or JSON."""

from __future__ import annotations

from typing import Any

from ml_blueprints.cost.estimate import CostReport, ResourceCost
from ml_blueprints.cost.tables import CostClass

_CLASSES = (CostClass.HOURLY, CostClass.RUNNING, CostClass.USAGE, CostClass.FREE)


def usd(amount: float) -> str:
    """Dollars with cents: ``$18.44``."""
    return f"${amount:,.2f}"


def _run_price(resource: ResourceCost) -> str:
    if resource.run_usd_hour is None:
        return "unpriced" if resource.unpriced else "-"
    return f"{usd(resource.run_usd_hour)}/hour"


def _mark(resource: ResourceCost, report: CostReport) -> str:
    """A note when the resource's price has no stored source."""
    unsourced = [k for k in resource.prices if not report.prices[k].sourced]
    return " (unsourced price)" if unsourced else ""


def markdown(report: CostReport) -> str:
    """The report as a Markdown page."""
    lines = [
        "# ml-blueprints cost",
        "",
        f"Idle cost at {report.region} list prices ({report.currency}, "
        f"{report.hours_per_month:g} hours a month): what the stacks cost in a month in "
        "which nothing runs, nothing is stored and nothing is requested.",
        "",
        "| stack | hourly | while running | usage only | free | idle $/month |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for stack in report.stacks:
        counts = " | ".join(str(stack.count(c)) for c in _CLASSES)
        lines.append(f"| {stack.name} | {counts} | {usd(stack.idle_usd_month)} |")
    total_counts = " | ".join(str(sum(s.count(c) for s in report.stacks)) for c in _CLASSES)
    lines.append(f"| **total** | {total_counts} | **{usd(report.idle_usd_month)}** |")
    lines += ["", "## What bills while idle", ""]
    idle = [r for r in report.resources if r.idle_usd_month > 0 or r.unpriced]
    if idle:
        lines += ["| stack | resource | type | $/month | how |", "|---|---|---|---:|---|"]
        lines += [
            f"| {r.stack} | {r.logical_id} | {r.resource_type} | "
            f"{'unpriced' if r.unpriced else usd(r.idle_usd_month)} | {r.basis}{_mark(r, report)} |"
            for r in sorted(idle, key=lambda r: (r.stack, -r.idle_usd_month, r.logical_id))
        ]
    else:
        lines.append("Nothing.")
    lines += ["", "## Billed while it runs", ""]
    if report.running:
        lines += ["| stack | resource | type | while running | how |", "|---|---|---|---:|---|"]
        lines += [
            f"| {r.stack} | {r.logical_id} | {r.resource_type} | {_run_price(r)} | "
            f"{r.basis}{_mark(r, report)} |"
            for r in report.running
        ]
    else:
        lines.append("Nothing.")
    if report.unclassified_types:
        lines += [
            "",
            "## Without a cost class",
            "",
            *(f"- {t}" for t in report.unclassified_types),
        ]
    lines += ["", "## Prices used", ""]
    lines += ["| price | USD | unit | source | as of |", "|---|---:|---|---|---|"]
    for key, price in report.used_prices.items():
        source = price.source or "none found (unsourced)"
        lines.append(f"| {key} | {price.usd:g} | {price.unit} | {source} | {price.as_of} |")
    return "\n".join(lines) + "\n"


def as_json(report: CostReport) -> dict[str, Any]:
    """The report as plain data."""
    return {
        "region": report.region,
        "currency": report.currency,
        "hours_per_month": report.hours_per_month,
        "idle_usd_month": round(report.idle_usd_month, 2),
        "stacks": {
            stack.name: {
                "idle_usd_month": round(stack.idle_usd_month, 2),
                "classes": {c.value: stack.count(c) for c in _CLASSES},
                "resources": [
                    {
                        "logical_id": r.logical_id,
                        "type": r.resource_type,
                        "class": r.cost_class.value,
                        "idle_usd_month": round(r.idle_usd_month, 4),
                        "run_usd_hour": r.run_usd_hour,
                        "basis": r.basis,
                        "prices": list(r.prices),
                        "unpriced": r.unpriced,
                    }
                    for r in stack.resources
                ],
            }
            for stack in report.stacks
        },
        "running": [
            {
                "stack": r.stack,
                "logical_id": r.logical_id,
                "type": r.resource_type,
                "run_usd_hour": r.run_usd_hour,
                "basis": r.basis,
            }
            for r in report.running
        ],
        "unclassified_types": report.unclassified_types,
        "prices": {
            key: {
                "usd": p.usd,
                "unit": p.unit,
                "source": p.source,
                "as_of": p.as_of,
                "evidence": p.evidence,
                "note": p.note,
            }
            for key, p in report.used_prices.items()
        },
    }
