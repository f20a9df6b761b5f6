"""What a rule of the project's own pack is, and the helpers rules share to read a template.

A rule is a pure function of one resource's CloudFormation ``Properties`` (as synthesized,
intrinsics and all) that answers whether the resource complies. Values that are still
intrinsics (``{"Ref": ...}``, ``{"Fn::If": ...}``) where a rule needs a literal cannot be
verified, and count as not compliant, as cdk-nag counts a rule that cannot resolve a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The pack's name: the prefix of every finding (``MlBlueprints-<Rule>``) and the namespace
#: CDK's ``Validations.of(...).acknowledge`` qualifies it with (``MlBlueprints::...``).
PACK = "MlBlueprints"

Properties = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """One rule: ``check(properties)`` is True when a resource of ``resource_type`` complies.

    ``name`` is the rule's suffix (the finding is ``MlBlueprints-<name>``), ``info`` what
    was found and ``explanation`` why it matters, as cdk-nag's rules state them.
    """

    name: str
    resource_type: str
    info: str
    explanation: str
    check: Callable[[Properties], bool]

    @property
    def finding(self) -> str:
        return f"{PACK}-{self.name}"


def is_intrinsic(value: Any) -> bool:
    """Whether ``value`` is a CloudFormation intrinsic or reference (a one-key ``Fn::``/``Ref``
    object) rather than a literal."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)).startswith(("Fn::", "Ref", "Condition"))
    )


def literal_bool(value: Any) -> bool | None:
    """``True``/``False`` for a literal boolean (CloudFormation also accepts the strings
    ``"true"``/``"false"``), ``None`` for anything else (absent, an intrinsic)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def get_path(properties: Any, *keys: str) -> Any:
    """``properties[k1][k2]...``, or ``None`` where a key is missing or a level is not an
    object."""
    value = properties
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def is_reference_or_nonempty(value: Any) -> bool:
    """A non-empty literal string, or an intrinsic (a reference to a resource or an import,
    whose value is only known at deploy time)."""
    return (isinstance(value, str) and value.strip() != "") or is_intrinsic(value)
