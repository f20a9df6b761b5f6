"""What a synthesized app costs while it sits idle, per stack, from the price table.

Every resource of every stack gets one class (:class:`CostClass`): billed by the hour while
it exists, billed while it runs, billed by usage only, or free. The idle cost of a stack is
what its resources cost in a month in which nothing runs and nothing is stored or
requested: hourly resources for the whole month, plus what running resources cost without
anyone starting them (a job's own schedule, a notebook's volume). Resources billed while
they run are also listed with their price per hour of running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_blueprints.assembly import StackTemplate, read_stacks
from ml_blueprints.cost.rules import RULES, Pricing, RuleContext
from ml_blueprints.cost.tables import CostClass, Price, classify_type, meta, price_table


@dataclass(frozen=True)
class ResourceCost:
    """One resource, its class and what it costs."""

    stack: str
    logical_id: str
    resource_type: str
    cost_class: CostClass
    idle_usd_month: float
    run_usd_hour: float | None
    basis: str
    prices: tuple[str, ...]
    unpriced: bool


@dataclass
class StackCost:
    """The resources of one stack and their idle total."""

    name: str
    resources: list[ResourceCost] = field(default_factory=list)

    @property
    def idle_usd_month(self) -> float:
        return sum(r.idle_usd_month for r in self.resources)

    def count(self, cost_class: CostClass) -> int:
        return sum(1 for r in self.resources if r.cost_class is cost_class)


@dataclass
class CostReport:
    """The whole assembly's cost classes, idle cost and prices of running resources."""

    stacks: list[StackCost]
    prices: dict[str, Price]
    region: str
    currency: str
    hours_per_month: float

    @property
    def idle_usd_month(self) -> float:
        return sum(s.idle_usd_month for s in self.stacks)

    @property
    def resources(self) -> list[ResourceCost]:
        return [r for s in self.stacks for r in s.resources]

    @property
    def unclassified_types(self) -> list[str]:
        """Resource types without a cost class (a test keeps this empty for the app)."""
        return sorted(
            {r.resource_type for r in self.resources if r.cost_class is CostClass.UNCLASSIFIED}
        )

    @property
    def unpriced(self) -> list[ResourceCost]:
        """Resources that bill idle or while running but have no price in the table."""
        return [r for r in self.resources if r.unpriced]

    @property
    def running(self) -> list[ResourceCost]:
        """Resources billed while they run, with their price per hour of running."""
        return [r for r in self.resources if r.cost_class is CostClass.RUNNING]

    @property
    def used_prices(self) -> dict[str, Price]:
        keys = sorted({k for r in self.resources for k in r.prices})
        return {k: self.prices[k] for k in keys}


def estimate(outdir: Path) -> CostReport:
    """The cost report of the assembly in ``outdir``; raises
    :class:`~ml_blueprints.assembly.AssemblyError` when it cannot be read."""
    return estimate_stacks(read_stacks(outdir))


def estimate_stacks(stacks: list[StackTemplate]) -> CostReport:
    """The cost report of already-read stacks."""
    prices = price_table()
    table_meta = meta()
    hours = float(table_meta["hours_per_month"])
    report = CostReport(
        stacks=[],
        prices=prices,
        region=table_meta["region"],
        currency=table_meta["currency"],
        hours_per_month=hours,
    )
    for stack in stacks:
        context = RuleContext(resources=stack.resources, prices=prices, hours_per_month=hours)
        cost = StackCost(stack.name)
        for logical_id, resource in stack.resources.items():
            cost.resources.append(_cost_of(stack.name, logical_id, resource, context))
        report.stacks.append(cost)
    return report


def _cost_of(
    stack: str, logical_id: str, resource: dict[str, Any], context: RuleContext
) -> ResourceCost:
    resource_type = str(resource.get("Type", "?"))
    type_class = classify_type(resource_type)
    rule = RULES.get(type_class.rule or "")
    if rule is not None:
        pricing = rule(resource, context)
    else:
        pricing = Pricing(type_class.cost_class, basis=type_class.note)
        if type_class.cost_class in (CostClass.HOURLY, CostClass.RUNNING):
            pricing.unpriced = True
            pricing.basis = pricing.basis or "not in the price table"
    return ResourceCost(
        stack=stack,
        logical_id=logical_id,
        resource_type=resource_type,
        cost_class=pricing.cost_class,
        idle_usd_month=round(pricing.idle_usd_month, 6),
        run_usd_hour=None if pricing.run_usd_hour is None else round(pricing.run_usd_hour, 6),
        basis=pricing.basis,
        prices=tuple(pricing.prices),
        unpriced=pricing.unpriced,
    )
