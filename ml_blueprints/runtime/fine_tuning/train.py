"""Fine-tune a pre-trained transformer for text classification: the SageMaker training job.

Runs in the Hugging Face PyTorch training container (transformers 4.49, PyTorch 2.5, Python
3.11) through SageMaker's script contract, or anywhere with ``torch``, ``transformers``,
``accelerate`` and ``pyarrow``. Self-contained: imports nothing from this project.

The contract (every path can also be given as an argument of the same name)
    ``SM_CHANNEL_TRAIN`` and ``SM_CHANNEL_VALIDATION`` (``--train_dir``, ``--validation_dir``):
    Parquet files, read recursively, with a text column (``--text_column``, ``text``) and a
    label column (``--label_column``, ``label``; strings, integers or booleans, kept as text),
    as the pipeline's data step writes them (``runtime/training_data.py``).
    ``SM_CHANNEL_PRETRAINED`` (``--pretrained_dir``, optional): the pre-trained model and its
    tokenizer as ``save_pretrained`` writes them (``config.json``...), directly, in one
    sub-directory, or as one ``.tar.gz``; without it ``--model_id`` is loaded from the Hugging
    Face Hub (a training job with network isolation cannot reach the Hub: stage the model in
    S3, see the README). ``SM_MODEL_DIR`` (``/opt/ml/model``): the fine-tuned model and
    tokenizer, which SageMaker packs into ``model.tar.gz``. ``SM_OUTPUT_DATA_DIR``
    (``/opt/ml/output/data``): ``metrics.json``, the final evaluation. ``--checkpoint_dir``
    (``/opt/ml/checkpoints``): the checkpoints SageMaker syncs with S3 and restores when a
    spot-interrupted job restarts. Hyperparameters arrive as ``--name value`` arguments; an
    unknown one fails the job (a misspelled hyperparameter is never ignored).

Training
    ``AutoModelForSequenceClassification`` on the pre-trained model with a new head for the
    labels of the train set (sorted; a validation label train lacks is an error), AdamW with a
    low learning rate (``--learning_rate``, 2e-5), linear decay after a warm-up
    (``--warmup_ratio``, 0.1), weight decay 0.01, ``--epochs`` (3) or ``--max_steps``. It
    evaluates and checkpoints every ``--eval_steps`` (0.1: a tenth of the run; 1 or more: that
    many steps), stops early when ``--metric_for_best_model`` (``f1``, macro; or
    ``accuracy``, ``loss``) has not improved for ``--early_stopping_patience`` (3)
    evaluations, keeps ``--save_total_limit`` (2) checkpoints besides the best, and ends with
    the best model. Mixed precision (``--mixed_precision auto``): bf16 on GPUs that have it,
    else fp16 on GPU, none on CPU.

Resuming
    At start, the newest complete checkpoint in ``--checkpoint_dir`` (one with its
    ``trainer_state.json``, written last) is resumed: weights, optimizer, scheduler, random
    state, step and early-stopping state. On SIGTERM (a stopped job, a spot interruption
    notice) the current step finishes, a checkpoint is written, and the script exits with
    status 143 without writing a model, so the restarted job resumes there.

Logs for the job's metric definitions
    Every log and evaluation is one line ``[metrics] step=N epoch=E name=value ...`` with the
    Trainer's names (``loss``, ``learning_rate``, ``eval_loss``, ``eval_accuracy``,
    ``eval_f1``...), the final evaluation of the best model last, so a definition such as
    ``eval_f1=([0-9.eE+-]+)`` captures the final value.

Serving
    ``SM_MODEL_DIR`` holds the model (safetensors, ``config.json`` with the label names) and
    the tokenizer, which the Hugging Face inference container serves with no custom code:
    ``HF_TASK=text-classification`` (or the architecture in ``config.json``) and a request
    ``{"inputs": "some text"}`` answer ``[{"label": "...", "score": ...}]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

LOG = logging.getLogger("train")

#: Exit status after a SIGTERM: checkpoint written, no model (128 + SIGTERM).
INTERRUPTED = 128 + signal.SIGTERM
CHECKPOINT = re.compile(r"checkpoint-(\d+)")
METRICS_PREFIX = "[metrics]"


class DataError(Exception):
    """The input data cannot be trained on (the message says why)."""


# --------------------------------------------------------------------------------- arguments


def _bool(value: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def _steps(value: str) -> float:
    """A step interval: a ratio of the whole run in (0, 1), or a whole number of steps."""
    number = float(value)
    if number <= 0 or (number >= 1 and not number.is_integer()):
        raise argparse.ArgumentTypeError(
            f"{value!r}: a ratio of the run between 0 and 1, or a whole number of steps"
        )
    return number if number < 1 else int(number)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: 1 or more")
    return number


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    # Hyperparameters.
    parser.add_argument("--model_id", default="distilbert/distilbert-base-uncased")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max_steps", type=int, default=-1)
    parser.add_argument("--learning_rate", type=float, default=2e-5)
    parser.add_argument("--warmup_ratio", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--train_batch_size", type=_positive_int, default=16)
    parser.add_argument("--eval_batch_size", type=_positive_int, default=64)
    parser.add_argument("--gradient_accumulation_steps", type=_positive_int, default=1)
    parser.add_argument("--max_length", type=_positive_int, default=256)
    parser.add_argument("--eval_steps", type=_steps, default=0.1)
    parser.add_argument("--logging_steps", type=_steps, default=0.02)
    parser.add_argument("--metric_for_best_model", choices=("f1", "accuracy", "loss"), default="f1")
    parser.add_argument("--early_stopping_patience", type=_positive_int, default=3)
    parser.add_argument("--early_stopping_threshold", type=float, default=0.0)
    parser.add_argument("--save_total_limit", type=_positive_int, default=2)
    parser.add_argument("--mixed_precision", choices=("auto", "no", "fp16", "bf16"), default="auto")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--text_column", default="text")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--resume", type=_bool, default=True)
    # SageMaker's paths.
    parser.add_argument("--train_dir", type=Path, default=env("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation_dir", type=Path, default=env("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--pretrained_dir", type=Path, default=env("SM_CHANNEL_PRETRAINED"))
    parser.add_argument("--model_dir", type=Path, default=env("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument(
        "--output_data_dir", type=Path, default=env("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    )
    parser.add_argument("--checkpoint_dir", type=Path, default=Path("/opt/ml/checkpoints"))
    args = parser.parse_args(argv)
    for name, channel in (
        ("train_dir", "SM_CHANNEL_TRAIN"),
        ("validation_dir", "SM_CHANNEL_VALIDATION"),
    ):
        if getattr(args, name) is None:
            parser.error(f"--{name} is required (or the {channel} environment variable)")
    return args


# -------------------------------------------------------------------------------------- data


def read_examples(
    directory: Path, text_column: str, label_column: str
) -> tuple[list[str], list[str]]:
    """The texts and labels (as text) of every Parquet file under ``directory``."""
    files = sorted(
        path
        for path in directory.rglob("*.parquet")
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(directory).parts)
    )
    if not files:
        raise DataError(f"no Parquet files under {directory}")
    texts: list[str] = []
    labels: list[str] = []
    for path in files:
        names = pq.read_schema(path).names
        missing = [name for name in (text_column, label_column) if name not in names]
        if missing:
            raise DataError(
                f"{path}: no column {', '.join(missing)} (columns: {', '.join(names)}); "
                "set the text_column / label_column hyperparameters"
            )
        table = pq.read_table(path, columns=[text_column, label_column])
        for text, label in zip(
            table.column(text_column).to_pylist(),
            table.column(label_column).to_pylist(),
            strict=True,
        ):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{path}: a row without text ({text!r})")
            if isinstance(label, bool):
                label = "true" if label else "false"
            if not isinstance(label, str | int) or not str(label).strip():
                raise DataError(f"{path}: a row with the label {label!r}")
            texts.append(text)
            labels.append(str(label).strip())
    return texts, labels


class Encoded(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Tokenized examples with their label ids, padded per batch by the collator."""

    def __init__(self, encodings: dict[str, list[list[int]]], labels: list[int]) -> None:
        self.encodings = encodings
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item


def resolve_pretrained(directory: Path) -> Path:
    """The directory holding ``config.json``: ``directory`` itself, its only sub-directory, or
    its only ``.tar.gz`` extracted to a temporary directory."""
    if (directory / "config.json").is_file():
        return directory
    archives = sorted(directory.glob("*.tar.gz"))
    subdirectories = [path for path in directory.iterdir() if path.is_dir()]
    if len(archives) == 1:
        target = Path(tempfile.mkdtemp(prefix="pretrained-"))
        with tarfile.open(archives[0], "r:gz") as archive:
            archive.extractall(target, filter="data")
        return resolve_pretrained(target)
    if len(subdirectories) == 1 and not archives:
        return resolve_pretrained(subdirectories[0])
    listing = ", ".join(sorted(path.name for path in directory.iterdir())) or "nothing"
    raise DataError(
        f"{directory} holds no model saved with save_pretrained (config.json), nor one "
        f"directory or .tar.gz with one: {listing}"
    )


# ---------------------------------------------------------------------------------- training


def last_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint (``checkpoint-N`` with ``trainer_state.json``) or None."""
    if not directory.is_dir():
        return None
    complete = [
        (int(match.group(1)), path)
        for path in directory.iterdir()
        if path.is_dir()
        and (match := CHECKPOINT.fullmatch(path.name))
        and (path / "trainer_state.json").is_file()
    ]
    return max(complete)[1] if complete else None


def macro_f1(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes in ``labels`` or ``predictions``."""
    scores = []
    for label in np.union1d(labels, predictions):
        true_positive = np.sum((predictions == label) & (labels == label))
        predicted = np.sum(predictions == label)
        actual = np.sum(labels == label)
        denominator = predicted + actual
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = prediction.predictions
    if isinstance(logits, tuple):
        logits = logits[0]
    predicted = np.argmax(logits, axis=-1)
    labels = np.asarray(prediction.label_ids)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "f1": macro_f1(labels, predicted),
    }


def format_metrics(step: int, logs: dict[str, Any], prefix: str = METRICS_PREFIX) -> str:
    """``[metrics] step=N epoch=E name=value ...``: every number in ``logs``, sorted."""
    values = {key: value for key, value in logs.items() if isinstance(value, int | float)}
    epoch = values.pop("epoch", None)
    parts = [prefix, f"step={step}"]
    if epoch is not None:
        parts.append(f"epoch={epoch:.4f}")
    parts.extend(f"{key}={value:.6g}" for key, value in sorted(values.items()))
    return " ".join(parts)


class PrintMetrics(TrainerCallback):
    """Prints every log as one ``[metrics]`` line, for the job's metric definitions."""

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
        if logs and state.is_world_process_zero:
            print(format_metrics(state.global_step, logs), flush=True)


class StopOnSigterm(TrainerCallback):
    """After SIGTERM, ends training at the end of the current step with a checkpoint.

    The handler only records the signal: it runs between two bytecodes of whatever the
    training loop is doing, which may be a ``print`` to the same buffered stream (a second
    write from the handler raises "reentrant call"). The step's end says it instead."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self.announced = False

    def request(self, signum: int, frame: Any) -> None:
        self.requested = signum

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if self.requested is not None:
            if not self.announced:
                print(
                    f"received signal {self.requested}: checkpointing at step {state.global_step}",
                    flush=True,
                )
                self.announced = True
            control.should_save = True
            control.should_evaluate = False
            control.should_training_stop = True
        return control


def _precision(choice: str) -> dict[str, bool]:
    if choice == "auto":
        if not torch.cuda.is_available():
            return {}
        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {choice: True} if choice != "no" else {}


def train(args: argparse.Namespace) -> int:
    """Fine-tune as the module docstring says; the exit status."""
    train_texts, train_labels = read_examples(args.train_dir, args.text_column, args.label_column)
    eval_texts, eval_labels = read_examples(
        args.validation_dir, args.text_column, args.label_column
    )
    names = sorted(set(train_labels))
    if len(names) < 2:
        raise DataError(f"the train set has {len(names)} label(s): a classifier needs 2 or more")
    unseen = sorted(set(eval_labels) - set(names))
    if unseen:
        raise DataError(f"validation labels that train lacks: {', '.join(unseen)}")
    label_ids = {name: index for index, name in enumerate(names)}
    print(
        f"train: {len(train_texts)} examples, validation: {len(eval_texts)}, "
        f"labels: {', '.join(names)}",
        flush=True,
    )

    source = resolve_pretrained(args.pretrained_dir) if args.pretrained_dir else args.model_id
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id=label_ids,
        ignore_mismatched_sizes=True,
    )

    def encode(texts: list[str], labels: list[str]) -> Encoded:
        encodings = tokenizer(texts, truncation=True, max_length=args.max_length)
        return Encoded(dict(encodings), [label_ids[label] for label in labels])

    precision = _precision(args.mixed_precision)
    metric = args.metric_for_best_model
    training_args = TrainingArguments(
        output_dir=str(args.checkpoint_dir),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        per_device_train_batch_size=args.train_batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        eval_strategy="steps",
        save_strategy="steps",
        eval_steps=args.eval_steps,
        save_steps=args.eval_steps,
        logging_strategy="steps",
        logging_steps=args.logging_steps,
        logging_first_step=True,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=metric != "loss",
        save_total_limit=args.save_total_limit,
        seed=args.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        **precision,
    )
    stop = StopOnSigterm()
    signal.signal(signal.SIGTERM, stop.request)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encode(train_texts, train_labels),
        eval_dataset=encode(eval_texts, eval_labels),
        data_collator=DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=8 if precision else None
        ),
        compute_metrics=compute_metrics,
        callbacks=[
            EarlyStoppingCallback(
                early_stopping_patience=args.early_stopping_patience,
                early_stopping_threshold=args.early_stopping_threshold,
            ),
            PrintMetrics(),
            stop,
        ],
    )
    trainer.remove_callback(PrinterCallback)  # PrintMetrics prints each log once, as a line
    resume = last_checkpoint(args.checkpoint_dir) if args.resume else None
    print(
        f"resuming from {resume}" if resume else "starting from the pre-trained model", flush=True
    )
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stop.requested is not None:
        saved = last_checkpoint(args.checkpoint_dir)
        print(f"interrupted at step {trainer.state.global_step}: resume from {saved}", flush=True)
        return INTERRUPTED

    stopped_early = trainer.state.global_step < trainer.state.max_steps
    final = trainer.evaluate()
    print(
        f"finished at step {trainer.state.global_step} of {trainer.state.max_steps}"
        + (" (early stopping)" if stopped_early else "")
        + f"; best checkpoint {trainer.state.best_model_checkpoint}",
        flush=True,
    )
    print(format_metrics(trainer.state.global_step, final, "[final]"), flush=True)
    args.model_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(args.model_dir))
    tokenizer.save_pretrained(str(args.model_dir))
    args.output_data_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "metrics": {key: value for key, value in final.items() if isinstance(value, int | float)},
        "labels": names,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "stopped_early": stopped_early,
        "resumed_from": str(resume) if resume else None,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_loss": result.training_loss if math.isfinite(result.training_loss) else None,
        "examples": {"train": len(train_texts), "validation": len(eval_texts)},
    }
    (args.output_data_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        return train(args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
