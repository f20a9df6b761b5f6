"""A typed catalog of Amazon SageMaker accelerated instance types, and lookups that validate
an instance type for a use (notebook, training job, hosting endpoint).

The course notes: deep learning trains on accelerated instances (P3, P4d, G5, and Trn1/Trn1n
for generative AI); inference runs on GPU or Inferentia (Inf2). This module says which
accelerated type fits which job, so constructs can refuse a bad choice at synth time.

Covered families (every size SageMaker offers in each):

* NVIDIA GPU: p3 (V100), p3dn (V100 32 GB), p4d (A100 40 GB), p4de (A100 80 GB),
  p5 (H100), p5e and p5en (H200), g4dn (T4), g5 (A10G), g6 (L4), g6e (L40S);
* AWS Trainium: trn1, trn1n (Trainium), trn2 (Trainium2);
* AWS Inferentia: inf1 (Inferentia), inf2 (Inferentia2).

Not covered: p2 (K80, legacy), dl1 (Gaudi), and families newer than this catalog (g7, g7e,
p6-b200, p6-b300, p6e-gb200); :func:`require` says so rather than calling them
non-accelerated.

Specifications (accelerator model and count, accelerator memory, vCPUs, memory) are the
published EC2/SageMaker ones; ``accelerator_memory_gib`` is the total across accelerators,
as AWS publishes it (e.g. 8 x 141 = 1128 for the H200 types).

``uses`` come from botocore's SageMaker service model, version 1.44.8: a type is valid for
:attr:`Use.NOTEBOOK` if it is in the ``InstanceType`` enum (``CreateNotebookInstance``),
for :attr:`Use.TRAINING` if in ``TrainingInstanceType`` (``CreateTrainingJob``) and for
:attr:`Use.HOSTING` if in ``ProductionVariantInstanceType`` (``CreateEndpointConfig``).
They are hard-coded here (this module imports neither botocore nor aws_cdk); the tests
cross-check them against the installed botocore. Inferentia is never valid for training.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType

from ml_blueprints.validation import PropErrors

#: The botocore version whose SageMaker model the ``uses`` were read from.
BOTOCORE_VERSION = "1.44.8"

#: ``ml.<family>.<size>``; families may carry a hyphenated suffix (``ml.p6-b200.48xlarge``).
NAME_PATTERN = re.compile(r"^ml\.([a-z0-9]+(?:-[a-z0-9]+)*)\.([a-z0-9]+)$")

#: Families that have accelerators although this catalog does not cover them.
_ACCELERATED_FAMILY = re.compile(r"^(?:p|g|gr|trn|inf|dl)\d")


class AcceleratorKind(Enum):
    """What accelerates the instance."""

    NVIDIA_GPU = "NVIDIA GPU"
    TRAINIUM = "AWS Trainium"
    INFERENTIA = "AWS Inferentia"


class Use(StrEnum):
    """What SageMaker runs on the instance."""

    NOTEBOOK = "notebook"
    TRAINING = "training"
    HOSTING = "hosting"


@dataclass(frozen=True)
class AcceleratedInstance:
    """One SageMaker accelerated instance type and what SageMaker accepts it for."""

    name: str  # "ml.g5.2xlarge"
    family: str  # "g5"
    accelerator: AcceleratorKind
    accelerator_model: str  # "NVIDIA A10G", "AWS Trainium", "AWS Inferentia2"
    accelerator_count: int
    accelerator_memory_gib: int  # total across accelerators
    vcpus: int
    memory_gib: float
    uses: frozenset[Use]

    @property
    def size(self) -> str:
        """The size part of the name: ``"2xlarge"`` for ``ml.g5.2xlarge``."""
        return self.name.rsplit(".", 1)[1]


_N, _T, _H = Use.NOTEBOOK, Use.TRAINING, Use.HOSTING
_GPU, _TRN, _INF = AcceleratorKind.NVIDIA_GPU, AcceleratorKind.TRAINIUM, AcceleratorKind.INFERENTIA

# fmt: off
# (family, kind, model, GiB per accelerator, uses, ((size, accelerators, vCPUs, GiB), ...))
_Sizes = tuple[tuple[str, int, int, float], ...]
_FAMILIES: tuple[tuple[str, AcceleratorKind, str, int, frozenset[Use], _Sizes], ...] = (
    ("g4dn", _GPU, "NVIDIA T4", 16, frozenset({_N, _T, _H}), (
        ("xlarge", 1, 4, 16),
        ("2xlarge", 1, 8, 32),
        ("4xlarge", 1, 16, 64),
        ("8xlarge", 1, 32, 128),
        ("12xlarge", 4, 48, 192),
        ("16xlarge", 1, 64, 256),
    )),
    ("g5", _GPU, "NVIDIA A10G", 24, frozenset({_N, _T, _H}), (
        ("xlarge", 1, 4, 16),
        ("2xlarge", 1, 8, 32),
        ("4xlarge", 1, 16, 64),
        ("8xlarge", 1, 32, 128),
        ("12xlarge", 4, 48, 192),
        ("16xlarge", 1, 64, 256),
        ("24xlarge", 4, 96, 384),
        ("48xlarge", 8, 192, 768),
    )),
    ("g6", _GPU, "NVIDIA L4", 24, frozenset({_N, _T, _H}), (
        ("xlarge", 1, 4, 16),
        ("2xlarge", 1, 8, 32),
        ("4xlarge", 1, 16, 64),
        ("8xlarge", 1, 32, 128),
        ("12xlarge", 4, 48, 192),
        ("16xlarge", 1, 64, 256),
        ("24xlarge", 4, 96, 384),
        ("48xlarge", 8, 192, 768),
    )),
    ("g6e", _GPU, "NVIDIA L40S", 48, frozenset({_N, _T, _H}), (
        ("xlarge", 1, 4, 32),
        ("2xlarge", 1, 8, 64),
        ("4xlarge", 1, 16, 128),
        ("8xlarge", 1, 32, 256),
        ("12xlarge", 4, 48, 384),
        ("16xlarge", 1, 64, 512),
        ("24xlarge", 4, 96, 768),
        ("48xlarge", 8, 192, 1536),
    )),
    ("inf1", _INF, "AWS Inferentia", 8, frozenset({_N, _H}), (
        ("xlarge", 1, 4, 8),
        ("2xlarge", 1, 8, 16),
        ("6xlarge", 4, 24, 48),
        ("24xlarge", 16, 96, 192),
    )),
    ("inf2", _INF, "AWS Inferentia2", 32, frozenset({_N, _H}), (
        ("xlarge", 1, 4, 16),
        ("8xlarge", 1, 32, 128),
        ("24xlarge", 6, 96, 384),
        ("48xlarge", 12, 192, 768),
    )),
    ("p3", _GPU, "NVIDIA V100", 16, frozenset({_N, _T, _H}), (
        ("2xlarge", 1, 8, 61),
        ("8xlarge", 4, 32, 244),
        ("16xlarge", 8, 64, 488),
    )),
    # SageMaker hosts nothing on p3dn: notebooks and training only.
    ("p3dn", _GPU, "NVIDIA V100", 32, frozenset({_N, _T}), (
        ("24xlarge", 8, 96, 768),
    )),
    ("p4d", _GPU, "NVIDIA A100", 40, frozenset({_N, _T, _H}), (
        ("24xlarge", 8, 96, 1152),
    )),
    ("p4de", _GPU, "NVIDIA A100", 80, frozenset({_N, _T, _H}), (
        ("24xlarge", 8, 96, 1152),
    )),
    ("p5", _GPU, "NVIDIA H100", 80, frozenset({_N, _T, _H}), (
        ("4xlarge", 1, 16, 256),
        ("48xlarge", 8, 192, 2048),
    )),
    # p5e has no notebook instances (p5en does).
    ("p5e", _GPU, "NVIDIA H200", 141, frozenset({_T, _H}), (
        ("48xlarge", 8, 192, 2048),
    )),
    ("p5en", _GPU, "NVIDIA H200", 141, frozenset({_N, _T, _H}), (
        ("48xlarge", 8, 192, 2048),
    )),
    ("trn1", _TRN, "AWS Trainium", 32, frozenset({_N, _T, _H}), (
        ("2xlarge", 1, 8, 32),
        ("32xlarge", 16, 128, 512),
    )),
    ("trn1n", _TRN, "AWS Trainium", 32, frozenset({_N, _T, _H}), (
        ("32xlarge", 16, 128, 512),
    )),
    ("trn2", _TRN, "AWS Trainium2", 96, frozenset({_T, _H}), (
        ("48xlarge", 16, 192, 2048),
    )),
)
# fmt: on


def _size_rank(size: str) -> float:
    """Order sizes by capacity: medium < large < xlarge < 2xlarge < ... < 48xlarge."""
    if match := re.fullmatch(r"(\d*)xlarge", size):
        return float(match.group(1) or 1)
    return {"medium": 0.25, "large": 0.5}.get(size, float("inf"))


def _sort_key(name: str) -> tuple[str, float, str]:
    _, family, size = name.split(".")
    return family, _size_rank(size), size


def _build() -> dict[str, AcceleratedInstance]:
    catalog: dict[str, AcceleratedInstance] = {}
    for family, kind, model, gib_each, uses, sizes in _FAMILIES:
        for size, count, vcpus, memory in sizes:
            name = f"ml.{family}.{size}"
            catalog[name] = AcceleratedInstance(
                name=name,
                family=family,
                accelerator=kind,
                accelerator_model=model,
                accelerator_count=count,
                accelerator_memory_gib=count * gib_each,
                vcpus=vcpus,
                memory_gib=float(memory),
                uses=uses,
            )
    return {name: catalog[name] for name in sorted(catalog, key=_sort_key)}


#: Every covered instance type by name, ordered by family then size.
CATALOG: Mapping[str, AcceleratedInstance] = MappingProxyType(_build())


def families() -> list[str]:
    """The covered families, sorted: ``["g4dn", "g5", ..., "trn2"]``."""
    return sorted({spec.family for spec in CATALOG.values()})


def valid_for(use: Use | str) -> list[str]:
    """The catalog's instance types SageMaker accepts for ``use``, by family then size."""
    use = _as_use(use)
    return [name for name, spec in CATALOG.items() if use in spec.uses]


def instance(name: str) -> AcceleratedInstance:
    """The catalog entry for ``name``; a ``ValueError`` if it is not a covered type."""
    errors = PropErrors("accelerated instance")
    errors.require(
        isinstance(name, str) and name in CATALOG,
        "name",
        name,
        "not an accelerated SageMaker instance type in this catalog; covered: " + _compact(CATALOG),
    )
    errors.raise_if_any()
    return CATALOG[name]


def require(
    name: str, use: Use | str, prop: str = "instance_type", *, owner: str | None = None
) -> AcceleratedInstance:
    """The catalog entry for ``name`` if SageMaker accepts it for ``use``.

    Otherwise one ``ValueError`` naming ``prop``, the value and the types valid for ``use``
    (grouped by family): for a malformed name, a type without an accelerator, an
    accelerated family this catalog does not cover, a size the family does not come in, or
    a type SageMaker does not accept for ``use`` (Inferentia for training, for example).
    ``owner`` (default ``"SageMaker <use>"``) starts the message, as in :class:`PropErrors`.
    """
    use = _as_use(use)
    errors = PropErrors(owner or f"SageMaker {use.value}")
    problem = _problem(name, use)
    if problem is not None:
        errors.add(prop, name, f"{problem}; valid for {use.value}: {_compact(valid_for(use))}")
    errors.raise_if_any()
    return CATALOG[name]


def _problem(name: object, use: Use) -> str | None:
    """Why ``name`` is not valid for ``use``, or ``None`` if it is."""
    if not isinstance(name, str) or not (match := NAME_PATTERN.fullmatch(name)):
        return "not a SageMaker instance type name (expected ml.<family>.<size>, e.g. ml.g5.xlarge)"
    family, _ = match.groups()
    spec = CATALOG.get(name)
    if spec is None:
        if family in families():
            sizes = [n for n in CATALOG if CATALOG[n].family == family]
            return f"SageMaker offers no such size of {family} (sizes: {_compact(sizes)})"
        if _ACCELERATED_FAMILY.match(family):
            return f"{family} is an accelerated family this catalog does not cover"
        return (
            f"an accelerator is required (NVIDIA GPU, AWS Trainium or AWS Inferentia) and "
            f"{family} has none"
        )
    if use not in spec.uses:
        why = " (Inferentia accelerates inference only)" if spec.accelerator is _INF else ""
        return f"SageMaker does not accept {spec.family} ({spec.accelerator_model}) for {use}{why}"
    return None


def _as_use(use: Use | str) -> Use:
    valid = [u.value for u in Use]
    if not isinstance(use, str) or use not in valid:
        errors = PropErrors("accelerated instance")
        errors.add("use", use, "one of " + ", ".join(repr(v) for v in valid))
        errors.raise_if_any()
    return Use(use)


def _compact(names: Iterable[str]) -> str:
    """``ml.g5.{xlarge,2xlarge}, ml.p4d.24xlarge``: names grouped by family, in order."""
    grouped: dict[str, list[str]] = {}
    for name in sorted(names, key=_sort_key):
        _, family, size = name.split(".")
        grouped.setdefault(family, []).append(size)
    return ", ".join(
        f"ml.{family}.{sizes[0]}" if len(sizes) == 1 else f"ml.{family}.{{{','.join(sizes)}}}"
        for family, sizes in grouped.items()
    )


def why_invalid(name: object, use: Use | str) -> str | None:
    """Why ``name`` is not valid for ``use``, with the valid choices; ``None`` if it is.

    For constructs that collect every bad prop into one error (see :class:`PropErrors`).
    """
    use = _as_use(use)
    problem = _problem(name, use)
    if problem is None:
        return None
    return f"{problem}; valid for {use.value}: {_compact(valid_for(use))}"


#: Families whose storage is local NVMe, encrypted by the instance's own hardware: SageMaker
#: refuses a KMS key for their volumes (``VolumeKmsKeyId``, an endpoint config's
#: ``KmsKeyId``), so constructs leave it out for them.
LOCAL_NVME_FAMILIES = frozenset(
    {"p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g4dn", "g5", "g6", "g6e", "trn1", "trn1n", "trn2"}
)


def has_local_nvme(name: str) -> bool:
    """Whether SageMaker instance type ``name`` stores on hardware-encrypted local NVMe."""
    match = NAME_PATTERN.fullmatch(name)
    return bool(match) and match.group(1) in LOCAL_NVME_FAMILIES  # type: ignore[union-attr]
