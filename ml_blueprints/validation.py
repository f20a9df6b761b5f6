"""Prop validation that collects every problem and raises one clear ``ValueError``.

Every construct and the app configuration validate their inputs up front (at synth time,
before anything reaches CloudFormation) with :class:`PropErrors`::

    errors = PropErrors("SecureDataLake")
    errors.require(days >= 30, "lifecycle.raw.infrequent_access_after_days", days,
                   "at least 30 (S3's minimum for STANDARD_IA)")
    errors.raise_if_any()

The message names the construct, then one line per problem: the prop, the value given and
what is allowed.
"""

from __future__ import annotations

from typing import Any


class PropErrors:
    """Collects invalid props for one construct; :meth:`raise_if_any` reports them all."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.problems: list[str] = []

    def add(self, prop: str, value: Any, allowed: str) -> None:
        """Record that ``prop`` has the bad ``value``; ``allowed`` says what would be valid."""
        self.problems.append(f"{prop}={value!r}: {allowed}")

    def require(self, ok: bool, prop: str, value: Any, allowed: str) -> bool:
        """Record a problem unless ``ok``; returns ``ok`` so checks can be chained."""
        if not ok:
            self.add(prop, value, allowed)
        return ok

    def raise_if_any(self) -> None:
        """Raise one ``ValueError`` listing every recorded problem, if there are any."""
        if self.problems:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            noun = "prop" if len(self.problems) == 1 else "props"
            raise ValueError(f"{self.owner}: invalid {noun}:\n{lines}")
