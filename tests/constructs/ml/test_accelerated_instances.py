"""The accelerated instance catalog: cross-checked against botocore's SageMaker model, spot
checks of the published specifications, and the lookups' errors."""

from __future__ import annotations

import ast
import inspect
import re
from collections import defaultdict

import botocore
import botocore.session
import pytest

from ml_blueprints.constructs.ml import accelerated_instances as module
from ml_blueprints.constructs.ml.accelerated_instances import (
    BOTOCORE_VERSION,
    CATALOG,
    AcceleratedInstance,
    AcceleratorKind,
    Use,
    families,
    instance,
    require,
    valid_for,
)

#: The botocore enum (shape) that lists the instance types SageMaker accepts for each use.
SHAPES = {
    Use.NOTEBOOK: "InstanceType",  # CreateNotebookInstance
    Use.TRAINING: "TrainingInstanceType",  # CreateTrainingJob
    Use.HOSTING: "ProductionVariantInstanceType",  # CreateEndpointConfig
}

REQUIRED_FAMILIES = {
    "p3", "p3dn", "p4d", "p4de", "p5", "g4dn", "g5", "g6", "g6e",
    "trn1", "trn1n", "inf1", "inf2",
}  # fmt: skip

INFERENTIA_FAMILIES = {"inf1", "inf2"}


@pytest.fixture(scope="module")
def enums() -> dict[Use, set[str]]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return {use: set(model.shape_for(shape).enum) for use, shape in SHAPES.items()}


def _family(name: str) -> str:
    return name.split(".")[1]


@pytest.mark.parametrize("use", list(Use))
def test_uses_match_botocore(use: Use, enums: dict[Use, set[str]]) -> None:
    """A type SageMaker adds to (or drops from) a covered family fails here."""
    covered = set(families())
    expected = {name for name in enums[use] if _family(name) in covered}
    if use is Use.TRAINING:  # Inferentia never trains, whatever the model says
        expected -= {name for name in expected if _family(name) in INFERENTIA_FAMILIES}
    actual = set(valid_for(use))
    assert actual == expected, (
        f"{use.value} ({SHAPES[use]}, botocore {botocore.__version__}): "
        f"in botocore but not the catalog: {sorted(expected - actual)}; "
        f"in the catalog but not botocore: {sorted(actual - expected)}"
    )


def test_every_catalog_type_is_in_a_botocore_enum(enums: dict[Use, set[str]]) -> None:
    known = set().union(*enums.values())
    unknown = sorted(name for name in CATALOG if name not in known)
    assert not unknown, f"not in any SageMaker enum (botocore {botocore.__version__}): {unknown}"


def test_every_size_of_a_covered_family_is_catalogued(enums: dict[Use, set[str]]) -> None:
    covered = set(families())
    offered = {name for names in enums.values() for name in names if _family(name) in covered}
    missing = sorted(offered - set(CATALOG))
    assert not missing, f"SageMaker offers these, the catalog lacks them: {missing}"


def test_inferentia_never_trains(enums: dict[Use, set[str]]) -> None:
    inferentia = [
        spec for spec in CATALOG.values() if spec.accelerator is AcceleratorKind.INFERENTIA
    ]
    assert {spec.family for spec in inferentia} == INFERENTIA_FAMILIES
    assert all(Use.TRAINING not in spec.uses for spec in inferentia)
    assert all(Use.HOSTING in spec.uses for spec in inferentia)
    assert not [name for name in valid_for(Use.TRAINING) if _family(name) in INFERENTIA_FAMILIES]
    # And botocore agrees today (the catalog would hold the line if it stopped agreeing).
    assert not [name for name in enums[Use.TRAINING] if _family(name) in INFERENTIA_FAMILIES]


def test_required_families_are_present() -> None:
    missing = sorted(REQUIRED_FAMILIES - set(families()))
    assert not missing, f"families missing from the catalog: {missing}"
    assert families() == sorted(families())


def test_every_type_has_a_use() -> None:
    assert not [name for name, spec in CATALOG.items() if not spec.uses]


def test_entries_are_consistent() -> None:
    per_family: dict[str, set[tuple[AcceleratorKind, str, int]]] = defaultdict(set)
    for name, spec in CATALOG.items():
        assert isinstance(spec, AcceleratedInstance)
        assert name == spec.name == f"ml.{spec.family}.{spec.size}"
        assert re.fullmatch(r"ml\.[a-z0-9]+\.(\d+)?xlarge", name), name
        assert spec.accelerator_count >= 1, name
        assert spec.vcpus >= 4, name
        assert spec.memory_gib >= 8, name
        assert spec.accelerator_memory_gib % spec.accelerator_count == 0, name
        assert spec.uses <= set(Use), name
        per_accelerator = spec.accelerator_memory_gib // spec.accelerator_count
        per_family[spec.family].add((spec.accelerator, spec.accelerator_model, per_accelerator))
    # One accelerator kind, model and per-accelerator memory per family.
    assert {family: len(specs) for family, specs in per_family.items()} == {
        family: 1 for family in per_family
    }
    prefixes = {
        AcceleratorKind.NVIDIA_GPU: "NVIDIA ",
        AcceleratorKind.TRAINIUM: "AWS Trainium",
        AcceleratorKind.INFERENTIA: "AWS Inferentia",
    }
    for spec in CATALOG.values():
        assert spec.accelerator_model.startswith(prefixes[spec.accelerator]), spec.name


def test_catalog_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOG["ml.g5.xlarge"] = CATALOG["ml.g5.2xlarge"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        CATALOG["ml.g5.xlarge"].accelerator_count = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "model", "count", "memory_gib", "vcpus", "ram_gib"),
    [
        ("ml.p3.2xlarge", "NVIDIA V100", 1, 16, 8, 61),
        ("ml.p3.8xlarge", "NVIDIA V100", 4, 64, 32, 244),
        ("ml.p3.16xlarge", "NVIDIA V100", 8, 128, 64, 488),
        ("ml.p3dn.24xlarge", "NVIDIA V100", 8, 256, 96, 768),
        ("ml.p4d.24xlarge", "NVIDIA A100", 8, 320, 96, 1152),
        ("ml.p4de.24xlarge", "NVIDIA A100", 8, 640, 96, 1152),
        ("ml.p5.48xlarge", "NVIDIA H100", 8, 640, 192, 2048),
        ("ml.p5.4xlarge", "NVIDIA H100", 1, 80, 16, 256),
        ("ml.p5en.48xlarge", "NVIDIA H200", 8, 1128, 192, 2048),
        ("ml.g4dn.xlarge", "NVIDIA T4", 1, 16, 4, 16),
        ("ml.g4dn.12xlarge", "NVIDIA T4", 4, 64, 48, 192),
        ("ml.g5.xlarge", "NVIDIA A10G", 1, 24, 4, 16),
        ("ml.g5.12xlarge", "NVIDIA A10G", 4, 96, 48, 192),
        ("ml.g5.48xlarge", "NVIDIA A10G", 8, 192, 192, 768),
        ("ml.g6.24xlarge", "NVIDIA L4", 4, 96, 96, 384),
        ("ml.g6e.xlarge", "NVIDIA L40S", 1, 48, 4, 32),
        ("ml.g6e.48xlarge", "NVIDIA L40S", 8, 384, 192, 1536),
        ("ml.trn1.2xlarge", "AWS Trainium", 1, 32, 8, 32),
        ("ml.trn1.32xlarge", "AWS Trainium", 16, 512, 128, 512),
        ("ml.trn1n.32xlarge", "AWS Trainium", 16, 512, 128, 512),
        ("ml.trn2.48xlarge", "AWS Trainium2", 16, 1536, 192, 2048),
        ("ml.inf1.xlarge", "AWS Inferentia", 1, 8, 4, 8),
        ("ml.inf1.6xlarge", "AWS Inferentia", 4, 32, 24, 48),
        ("ml.inf1.24xlarge", "AWS Inferentia", 16, 128, 96, 192),
        ("ml.inf2.xlarge", "AWS Inferentia2", 1, 32, 4, 16),
        ("ml.inf2.24xlarge", "AWS Inferentia2", 6, 192, 96, 384),
        ("ml.inf2.48xlarge", "AWS Inferentia2", 12, 384, 192, 768),
    ],
)
def test_published_specs(
    name: str, model: str, count: int, memory_gib: int, vcpus: int, ram_gib: float
) -> None:
    spec = instance(name)
    assert (
        spec.accelerator_model,
        spec.accelerator_count,
        spec.accelerator_memory_gib,
        spec.vcpus,
        spec.memory_gib,
    ) == (model, count, memory_gib, vcpus, ram_gib)


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        *[(f, AcceleratorKind.NVIDIA_GPU) for f in ("p3", "p3dn", "p4d", "p4de", "p5", "g4dn")],
        *[(f, AcceleratorKind.NVIDIA_GPU) for f in ("g5", "g6", "g6e", "p5e", "p5en")],
        *[(f, AcceleratorKind.TRAINIUM) for f in ("trn1", "trn1n", "trn2")],
        *[(f, AcceleratorKind.INFERENTIA) for f in ("inf1", "inf2")],
    ],
)
def test_kind_per_family(family: str, kind: AcceleratorKind) -> None:
    specs = [spec for spec in CATALOG.values() if spec.family == family]
    assert specs, family
    assert {spec.accelerator for spec in specs} == {kind}


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("g4dn", ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
        (
            "g5",
            [
                "xlarge",
                "2xlarge",
                "4xlarge",
                "8xlarge",
                "12xlarge",
                "16xlarge",
                "24xlarge",
                "48xlarge",
            ],
        ),
        ("inf1", ["xlarge", "2xlarge", "6xlarge", "24xlarge"]),
        ("inf2", ["xlarge", "8xlarge", "24xlarge", "48xlarge"]),
        ("trn1", ["2xlarge", "32xlarge"]),
    ],
)
def test_family_sizes(name: str, sizes: list[str]) -> None:
    assert [spec.size for spec in CATALOG.values() if spec.family == name] == sizes


def test_valid_for_is_sorted_by_family_then_size() -> None:
    for use in Use:
        names = valid_for(use)
        order = [(_family(n), families().index(_family(n))) for n in names]
        assert [index for _, index in order] == sorted(index for _, index in order), use
        assert len(names) == len(set(names)), use
    training = valid_for(Use.TRAINING)
    g5 = [n for n in training if _family(n) == "g5"]
    assert g5 == [
        "ml.g5.xlarge", "ml.g5.2xlarge", "ml.g5.4xlarge", "ml.g5.8xlarge",
        "ml.g5.12xlarge", "ml.g5.16xlarge", "ml.g5.24xlarge", "ml.g5.48xlarge",
    ]  # fmt: skip
    assert training[0] == "ml.g4dn.xlarge"
    assert training.index("ml.p3.2xlarge") < training.index("ml.p3.16xlarge")


def test_valid_for_contents() -> None:
    notebook, training, hosting = (set(valid_for(u)) for u in Use)
    assert {"ml.p3.2xlarge", "ml.p4d.24xlarge", "ml.g5.xlarge", "ml.trn1.32xlarge"} <= training
    assert {"ml.trn1n.32xlarge", "ml.p3dn.24xlarge"} <= training
    assert not {n for n in training if _family(n) in INFERENTIA_FAMILIES}
    assert {"ml.inf2.xlarge", "ml.inf1.xlarge", "ml.g5.xlarge"} <= hosting
    assert "ml.p3dn.24xlarge" not in hosting
    assert "ml.g4dn.xlarge" in notebook
    assert valid_for("training") == valid_for(Use.TRAINING)
    assert set(CATALOG) == training | hosting | notebook


def test_require_returns_the_entry() -> None:
    spec = require("ml.g5.2xlarge", Use.TRAINING)
    assert spec is CATALOG["ml.g5.2xlarge"]
    assert require("ml.inf2.xlarge", "hosting").accelerator is AcceleratorKind.INFERENTIA
    assert require("ml.trn1.32xlarge", Use.TRAINING, prop="training.instance_type").vcpus == 128


@pytest.mark.parametrize(
    ("name", "use", "reason", "valid"),
    [
        (
            "ml.inf2.xlarge",
            Use.TRAINING,
            "does not accept inf2 (AWS Inferentia2) for training",
            ["ml.trn1.{2xlarge,32xlarge}", "ml.p4d.24xlarge"],
        ),
        (
            "ml.inf1.xlarge",
            Use.TRAINING,
            "Inferentia accelerates inference only",
            ["ml.g5.{xlarge,"],
        ),
        (
            "ml.p3dn.24xlarge",
            Use.HOSTING,
            "does not accept p3dn",
            ["ml.inf2.{xlarge,8xlarge,24xlarge,48xlarge}"],
        ),
        (
            "ml.m5.xlarge",
            Use.TRAINING,
            "an accelerator is required",
            ["ml.g4dn.{xlarge,2xlarge,4xlarge,8xlarge,12xlarge,16xlarge}"],
        ),
        ("ml.t3.medium", Use.NOTEBOOK, "an accelerator is required", ["ml.g5.{xlarge"]),
        ("ml.g5.3xlarge", Use.HOSTING, "no such size of g5", ["ml.g6e.{xlarge"]),
        ("ml.p2.xlarge", Use.TRAINING, "p2 is an accelerated family this catalog does not", []),
        ("ml.p6-b200.48xlarge", Use.TRAINING, "accelerated family this catalog does not", []),
        ("g5.xlarge", Use.TRAINING, "not a SageMaker instance type name", ["ml.p5.{4xlarge"]),
        ("ML.G5.XLARGE", Use.HOSTING, "not a SageMaker instance type name", []),
        ("ml.g5.xlarge ", Use.HOSTING, "not a SageMaker instance type name", []),
        ("ml..xlarge", Use.NOTEBOOK, "not a SageMaker instance type name", []),
        (None, Use.NOTEBOOK, "not a SageMaker instance type name", []),
    ],
)
def test_require_errors(name: str, use: Use, reason: str, valid: list[str]) -> None:
    with pytest.raises(ValueError, match=rf"^SageMaker {use.value}: invalid prop:") as error:
        require(name, use, prop="endpoint.instance_type")
    message = str(error.value)
    assert f"endpoint.instance_type={name!r}: " in message
    assert reason in message
    assert f"valid for {use.value}: ml.g4dn." in message
    for choice in valid:
        assert choice in message


def test_require_error_lists_only_types_valid_for_the_use() -> None:
    with pytest.raises(ValueError) as error:
        require("ml.m5.xlarge", Use.TRAINING)
    choices = str(error.value).split("valid for training: ", 1)[1]
    assert "inf1" not in choices and "inf2" not in choices
    assert "ml.trn2.48xlarge" in choices
    with pytest.raises(ValueError) as error:
        require("ml.m5.xlarge", Use.HOSTING)
    choices = str(error.value).split("valid for hosting: ", 1)[1]
    assert "p3dn" not in choices and "ml.inf2.{" in choices


def test_require_default_prop_and_owner() -> None:
    with pytest.raises(ValueError, match=r"^GpuNotebook: invalid prop:\n  - instance_type='x'"):
        require("x", Use.NOTEBOOK, owner="GpuNotebook")


def test_require_refuses_an_unknown_use() -> None:
    with pytest.raises(ValueError, match=r"use='inference': one of 'notebook', 'training'"):
        require("ml.g5.xlarge", "inference")


@pytest.mark.parametrize("name", ["ml.m5.xlarge", "ml.g5.3xlarge", "nonsense", ""])
def test_instance_unknown(name: str) -> None:
    with pytest.raises(ValueError, match=r"invalid prop") as error:
        instance(name)
    message = str(error.value)
    assert f"name={name!r}: not an accelerated SageMaker instance type" in message
    for family in ("g4dn", "p4de", "trn1n", "inf2"):
        assert f"ml.{family}." in message


def test_module_imports_neither_botocore_nor_aws_cdk() -> None:
    tree = ast.parse(inspect.getsource(module))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"botocore", "boto3", "aws_cdk", "constructs"}


def test_docstring_names_the_botocore_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", BOTOCORE_VERSION)
    assert f"version {BOTOCORE_VERSION}" in (module.__doc__ or "")
