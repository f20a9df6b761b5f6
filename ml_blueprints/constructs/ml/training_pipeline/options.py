"""The training pipeline's option groups and the rules its props are checked against.

Limits are SageMaker's, from botocore's service model (``CreateTrainingJob``,
``CreateProcessingJob``; the same botocore version as the accelerated instance catalog), and
the tests cross-check them against the installed botocore.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import aws_cdk as cdk

from ml_blueprints.constructs.ml.accelerated_instances import CATALOG, AcceleratorKind
from ml_blueprints.validation import PropErrors, TypedProps

#: ``HyperParameters``: at most 100 entries, keys up to 256 characters, values up to 2500.
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_KEY = 256
MAX_HYPERPARAMETER_VALUE = 2500
#: Hyperparameters the pipeline sets itself (the SageMaker training toolkit reads them).
RESERVED_HYPERPARAMETERS = ("sagemaker_program", "sagemaker_submit_directory", "sagemaker_region")
#: ``MetricDefinitions``: at most 40; names 1-255 characters, regexes 1-500.
MAX_METRIC_DEFINITIONS = 40
MAX_METRIC_NAME = 255
MAX_METRIC_REGEX = 500

#: What the bundled script logs (``[metrics] ... eval_f1=0.91 ...``, see
#: ``runtime/fine_tuning/train.py``), as the training job's metric definitions. The last
#: line the script prints is the final evaluation of the best model, so each metric's final
#: value (``FinalMetricDataList``) is the model's.
METRIC_DEFINITIONS: Mapping[str, str] = MappingProxyType(
    {
        "validation:f1": r"eval_f1=([-+0-9.eE]+)",
        "validation:accuracy": r"eval_accuracy=([-+0-9.eE]+)",
        "validation:loss": r"eval_loss=([-+0-9.eE]+)",
        "train:loss": r" loss=([-+0-9.eE]+)",
    }
)

#: The bundled script's default pre-trained model: DistilBERT (66M parameters).
DEFAULT_BASE_MODEL = "distilbert/distilbert-base-uncased"
#: A Hugging Face Hub model id: ``name`` or ``organization/name``.
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")

#: CPU instance types a Processing job accepts (``ProcessingInstanceType``), for the data
#: step: general purpose, compute and memory optimized, all with EBS volumes (so the lake
#: key encrypts them).
PROCESSING_INSTANCE_TYPES: frozenset[str] = frozenset(
    f"ml.{family}.{size}"
    for family, sizes in {
        "t3": "medium large xlarge 2xlarge",
        "m5": "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge",
        "c5": "xlarge 2xlarge 4xlarge 9xlarge 18xlarge",
        "r5": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
        "m6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge",
        "c6i": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge",
        "r6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge",
        "m7i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
        "c7i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
        "r7i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    }.items()
    for size in sizes.split()
)
#: ``ProcessingMaxRuntimeInSeconds``: 1 s to 9 days.
PROCESSING_MAX_RUNTIME = (1, 777_600)
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_\-/=.]*/$")


@dataclass(frozen=True)
class TrainingDataStep(TypedProps):
    """The pipeline's first step: curated events -> the training set, as a SageMaker
    Processing job running ``runtime/training_data.py`` (see its docstring for the rules).

    It reads ``input_zone``/``source_prefix`` (``events/``: the Spark ETL job's output),
    writes ``train/``, ``validation/``, ``rejects/`` and ``summary.json`` under
    ``input_zone``/``<input_prefix><run name>/``, which the training job then reads: each
    run trains on the data it prepared, and keeps it.
    """

    #: Where the curated events are, in the pipeline's ``input_zone``.
    source_prefix: str = "events/"
    #: The event field holding the text to classify.
    text_column: str = "text"
    #: The event field holding the label.
    label_column: str = "label"
    #: ``"time"`` (the newest events validate) or ``"entity"`` (by ``entity_column``).
    split: str = "time"
    #: The field that groups events (a user, a device) for ``split="entity"``.
    entity_column: str | None = None
    #: The share of rows (time) or entities (entity) in the validation set.
    validation_fraction: float = 0.2
    #: A CPU instance type (:data:`PROCESSING_INSTANCE_TYPES`).
    instance_type: str = "ml.m5.xlarge"
    #: The instance's volume (the events are copied to it), encrypted with the lake key.
    volume_size_gib: int = 30
    #: The job's time limit.
    max_runtime_seconds: int = 3600
    #: The container; ``None``: the training image (its ``datasets`` brings ``pyarrow``).
    image: str | None = None

    def validate(self, errors: PropErrors, prop: str = "training_data") -> None:
        """Record every bad field in ``errors`` as ``<prop>.<field>``."""
        errors.require(
            isinstance(self.source_prefix, str) and bool(_PREFIX.match(self.source_prefix)),
            f"{prop}.source_prefix",
            self.source_prefix,
            "a key prefix ending in '/', e.g. 'events/'",
        )
        for name in ("text_column", "label_column"):
            value = getattr(self, name)
            errors.require(
                isinstance(value, str) and bool(_COLUMN.match(value)),
                f"{prop}.{name}",
                value,
                "a column name (letters, digits, _ . -; not starting with a digit)",
            )
        errors.require(
            self.split in ("time", "entity"),
            f"{prop}.split",
            self.split,
            "'time' (the newest events validate) or 'entity' (each entity on one side)",
        )
        if self.split == "entity":
            errors.require(
                isinstance(self.entity_column, str) and bool(_COLUMN.match(self.entity_column)),
                f"{prop}.entity_column",
                self.entity_column,
                "the column that groups events (a user, a device), required by split='entity'",
            )
        else:
            errors.require(
                self.entity_column is None,
                f"{prop}.entity_column",
                self.entity_column,
                "unset unless split='entity'",
            )
        errors.require(
            isinstance(self.validation_fraction, int | float)
            and not isinstance(self.validation_fraction, bool)
            and 0.01 <= self.validation_fraction <= 0.5,
            f"{prop}.validation_fraction",
            self.validation_fraction,
            "0.01 to 0.5",
        )
        errors.require(
            self.instance_type in PROCESSING_INSTANCE_TYPES,
            f"{prop}.instance_type",
            self.instance_type,
            "a CPU Processing instance type: ml.{t3,m5,c5,r5,m6i,c6i,r6i,m7i,c7i,r7i}.<size>, "
            "e.g. ml.m5.xlarge",
        )
        errors.require(
            _is_int(self.volume_size_gib) and 1 <= self.volume_size_gib <= 16384,
            f"{prop}.volume_size_gib",
            self.volume_size_gib,
            "1 to 16384 GiB",
        )
        low, high = PROCESSING_MAX_RUNTIME
        errors.require(
            _is_int(self.max_runtime_seconds) and low <= self.max_runtime_seconds <= high,
            f"{prop}.max_runtime_seconds",
            self.max_runtime_seconds,
            f"{low} to {high} seconds (9 days)",
        )

    def arguments(self) -> list[str]:
        """The data script's arguments for these options."""
        arguments = [
            "--text-column",
            self.text_column,
            "--label-column",
            self.label_column,
            "--split",
            self.split,
            "--validation-fraction",
            repr(float(self.validation_fraction)),
        ]
        if self.entity_column:
            arguments += ["--entity-column", self.entity_column]
        return arguments


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_hyperparameters(errors: PropErrors, hyperparameters: object, others: int) -> None:
    """SageMaker's rules for ``HyperParameters``, with ``others`` entries the pipeline adds.

    Keys and values must be strings (SageMaker refuses numbers and booleans: pass ``"3"``,
    ``"2e-5"``, ``"true"``), keys 1-256 characters and not ending in ``.$`` (Step Functions
    would read the value as a JSONPath), values at most 2500 characters, at most 100 entries
    in all; the keys the pipeline sets (:data:`RESERVED_HYPERPARAMETERS`) are refused.
    Values that are still tokens are not checked.
    """
    if not isinstance(hyperparameters, Mapping):
        errors.add("hyperparameters", hyperparameters, "a mapping of strings to strings")
        return
    for key, value in hyperparameters.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_HYPERPARAMETER_KEY:
            errors.add("hyperparameters", key, f"keys are strings of 1 to {MAX_HYPERPARAMETER_KEY}")
            continue
        name = f"hyperparameters[{key!r}]"
        if key in RESERVED_HYPERPARAMETERS:
            errors.add(
                name,
                value,
                "set by the pipeline from source_dir and entry_point; not a hyperparameter to give",
            )
        elif key.endswith(".$"):
            errors.add(name, value, "a key ending in '.$' makes Step Functions read a JSONPath")
        if isinstance(value, str):
            errors.require(
                cdk.Token.is_unresolved(value) or len(value) <= MAX_HYPERPARAMETER_VALUE,
                name,
                f"{value[:40]}... ({len(value)} characters)",
                f"at most {MAX_HYPERPARAMETER_VALUE} characters",
            )
        else:
            errors.add(
                name,
                value,
                f"a string: SageMaker accepts only string values (e.g. {str(value).lower()!r})"
                if isinstance(value, int | float)
                else "a string: SageMaker accepts only string values",
            )
    total = len(hyperparameters) + others
    errors.require(
        total <= MAX_HYPERPARAMETERS,
        "hyperparameters",
        f"{len(hyperparameters)} entries",
        f"at most {MAX_HYPERPARAMETERS - others} (SageMaker's limit of {MAX_HYPERPARAMETERS}, "
        f"less the {others} the pipeline sets)",
    )


#: Hyperparameters that make the SageMaker training toolkit launch the script on every GPU of
#: every instance as one data-parallel job (torchrun, SageMaker's data parallelism, MPI).
DISTRIBUTION_HYPERPARAMETERS = (
    "sagemaker_torch_distributed_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_mpi_enabled",
)


def validate_bundled(
    errors: PropErrors, instance_count: object, hyperparameters: object, *, bundled: bool
) -> None:
    """What the bundled script needs: the model named by ``base_model_id`` (it also names
    where the model is staged), and, on more than one instance, a distribution setting
    (launched plainly, each instance would train its own copy of the model on all the data)."""
    if not bundled:
        return
    given = hyperparameters if isinstance(hyperparameters, Mapping) else {}
    if "model_id" in given:
        errors.add(
            "hyperparameters['model_id']",
            given["model_id"],
            "set by the pipeline from base_model_id, which also names where the model is "
            "staged (pretrained/<base_model_id>/): set base_model_id instead",
        )
    if isinstance(instance_count, int) and instance_count > 1:
        errors.require(
            any(str(given.get(key, "")).lower() == "true" for key in DISTRIBUTION_HYPERPARAMETERS),
            "training_instance_count",
            instance_count,
            "1 for the bundled script unless hyperparameters turn on distributed training "
            "(e.g. {'sagemaker_torch_distributed_enabled': 'true'}): launched plainly, each "
            "instance would train its own copy on all the data",
        )


def validate_metric_definitions(errors: PropErrors, definitions: object) -> None:
    """SageMaker's rules for ``MetricDefinitions``: at most 40, names 1-255 characters,
    regular expressions 1-500 characters with a capture group (the value)."""
    if not isinstance(definitions, Mapping):
        errors.add("metric_definitions", definitions, "a mapping of metric names to regexes")
        return
    errors.require(
        len(definitions) <= MAX_METRIC_DEFINITIONS,
        "metric_definitions",
        f"{len(definitions)} definitions",
        f"at most {MAX_METRIC_DEFINITIONS}",
    )
    for name, regex in definitions.items():
        errors.require(
            isinstance(name, str) and 1 <= len(name) <= MAX_METRIC_NAME,
            "metric_definitions",
            name,
            f"metric names are strings of 1 to {MAX_METRIC_NAME} characters",
        )
        label = f"metric_definitions[{name!r}]"
        if not isinstance(regex, str) or not 1 <= len(regex) <= MAX_METRIC_REGEX:
            errors.add(label, regex, f"a regular expression of 1 to {MAX_METRIC_REGEX} characters")
            continue
        try:
            groups = re.compile(regex).groups
        except re.error as error:
            errors.add(label, regex, f"a valid regular expression ({error})")
            continue
        errors.require(
            groups >= 1,
            label,
            regex,
            "a regular expression whose first group captures the value, e.g. 'f1=([0-9.]+)'",
        )


def validate_base_model(errors: PropErrors, base_model_id: object, *, bundled: bool) -> None:
    """A Hugging Face Hub model id (``name`` or ``organization/name``); ``None`` only with
    your own script (the bundled one cannot reach the Hub from a network-isolated job)."""
    if base_model_id is None:
        errors.require(
            not bundled,
            "base_model_id",
            base_model_id,
            "a model id: the bundled script fine-tunes the model staged under "
            "pretrained/<base_model_id>/ (the job cannot reach the Hugging Face Hub)",
        )
        return
    errors.require(
        isinstance(base_model_id, str) and bool(_MODEL_ID.match(base_model_id)),
        "base_model_id",
        base_model_id,
        "a Hugging Face model id such as 'distilbert/distilbert-base-uncased', or None",
    )


def validate_hosting(errors: PropErrors, hosting_instance_type: object) -> None:
    """Refuse Inferentia: it serves only Neuron-compiled models and the pipeline registers
    the model as trained."""
    spec = CATALOG.get(hosting_instance_type) if isinstance(hosting_instance_type, str) else None
    if spec is not None and spec.accelerator is AcceleratorKind.INFERENTIA:
        errors.add(
            "hosting_instance_type",
            hosting_instance_type,
            "Inferentia serves only models compiled for AWS Neuron, and this pipeline "
            "registers the model as trained (it has no Neuron compilation step): host on a "
            "GPU type such as ml.g5.xlarge, or compile the model for Neuron yourself and "
            "serve it with SageMakerEndpoint and a Neuron image",
        )


def validate_training_data(errors: PropErrors, training_data: object, input_prefix: object) -> None:
    """A :class:`TrainingDataStep` (or ``None``) that does not read where it writes."""
    if training_data is None:
        return
    if not isinstance(training_data, TrainingDataStep):
        errors.add("training_data", training_data, "a TrainingDataStep, or None")
        return
    training_data.validate(errors)
    source = training_data.source_prefix
    if (
        isinstance(input_prefix, str)
        and isinstance(source, str)
        and (source.startswith(input_prefix) or input_prefix.startswith(source))
    ):
        errors.add(
            "training_data.source_prefix",
            source,
            f"a prefix apart from input_prefix ({input_prefix!r}): the data step must not "
            "read what it writes",
        )
