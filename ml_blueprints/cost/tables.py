"""The price table and the class table, shipped as data (TOML) beside this module."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any


class CostClass(Enum):
    """How a resource is billed; every resource is in exactly one class."""

    HOURLY = "hourly"
    RUNNING = "running"
    USAGE = "usage"
    FREE = "free"
    UNCLASSIFIED = "unclassified"

    @property
    def meaning(self) -> str:
        """The class as the README and the command's output say it."""
        return _MEANINGS[self]


_MEANINGS = {
    CostClass.HOURLY: "billed by the hour while it exists",
    CostClass.RUNNING: "billed while it runs",
    CostClass.USAGE: "billed by usage only",
    CostClass.FREE: "free",
    CostClass.UNCLASSIFIED: "no cost class (add the type to ml_blueprints/cost/classes.toml)",
}


@dataclass(frozen=True)
class Price:
    """One entry of the price table."""

    key: str
    usd: float
    unit: str
    source: str
    as_of: str
    evidence: str
    note: str = ""

    @property
    def sourced(self) -> bool:
        """Whether a stored copy with the number was found (see prices.toml)."""
        return bool(self.source)


@dataclass(frozen=True)
class TypeClass:
    """The class of a resource type, and the rule that prices it (if any)."""

    resource_type: str
    cost_class: CostClass
    rule: str | None = None
    note: str = ""


def _read(name: str) -> dict[str, Any]:
    text = resources.files("ml_blueprints.cost").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def price_table() -> dict[str, Price]:
    """Every price, by key."""
    data = _read("prices.toml")
    return {
        key: Price(
            key=key,
            usd=float(entry["usd"]),
            unit=entry["unit"],
            source=entry.get("source", ""),
            as_of=entry["as_of"],
            evidence=entry["evidence"],
            note=entry.get("note", ""),
        )
        for key, entry in data["prices"].items()
    }


@cache
def meta() -> dict[str, Any]:
    """Region, currency and hours per month of the price table."""
    return dict(_read("prices.toml")["meta"])


@cache
def class_table() -> dict[str, TypeClass]:
    """Every classified resource type."""
    return {
        resource_type: TypeClass(
            resource_type=resource_type,
            cost_class=CostClass(entry["class"]),
            rule=entry.get("rule"),
            note=entry.get("note", ""),
        )
        for resource_type, entry in _read("classes.toml")["types"].items()
    }


def classify_type(resource_type: str) -> TypeClass:
    """The class of ``resource_type``; custom resources are free (their provider function
    is a resource of its own), anything else unknown is unclassified."""
    known = class_table().get(resource_type)
    if known is not None:
        return known
    if resource_type.startswith("Custom::") or resource_type == (
        "AWS::CloudFormation::CustomResource"
    ):
        return TypeClass(resource_type, CostClass.FREE, note="runs its provider on deploys")
    return TypeClass(resource_type, CostClass.UNCLASSIFIED)
