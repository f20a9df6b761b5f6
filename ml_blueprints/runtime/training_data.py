"""Training data: curated events (Parquet) -> a text-classification training set with a
train/validation split that does not leak.

Runs as the first step of the training pipeline, a SageMaker Processing job (the Hugging Face
training container, whose ``datasets`` package brings ``pyarrow``), or anywhere with Python
3.11+ and ``pyarrow``. Self-contained: imports nothing from this project, so the job can run
the file on its own.

Input (``--input-dir``, default ``/opt/ml/processing/input/events``)
    The curated events as the Spark ETL job writes them (``runtime/spark_etl.py``): Parquet
    files, read recursively, typically under ``event_date=YYYY-MM-DD/`` directories (the
    partition value is not used). Each file is read on its own with only the columns needed,
    so payload columns whose types differ between dates do not matter: ``event_id``,
    ``event_time`` and ``ingested_at`` (timestamps, INT96 or not), the text column
    (``--text-column``, ``text``), the label column (``--label-column``, ``label``) and, for a
    split by entity, ``--entity-column``.

Validation
    A row is rejected, never dropped, with the first reason that applies: ``missing_text``
    (absent, null, empty or blank), ``text_not_a_string`` (the column is a number, a struct...),
    ``missing_label`` (absent or null), ``bad_label`` (not a string, integer or boolean, or a
    blank string), ``missing_event_time`` (split by time only) or ``missing_entity`` (split by
    entity only: absent, null or blank). Labels are kept as text (``1`` -> ``"1"``, ``True`` ->
    ``"true"``).

De-duplication
    Valid rows sharing an ``event_id`` (an event re-sent with another ``event_time`` lands in
    two dates of the curated zone) keep one row: the latest ``ingested_at`` (missing loses),
    then the latest ``event_time``, then the greatest text and label; the others are rejected
    as ``duplicate_event``. Rows without an ``event_id`` are all kept.

Split (``--split``, ``time``)
    ``time``: the newest ``--validation-fraction`` (0.2) of the rows by ``event_time`` form the
    validation set: a cutoff instant is chosen, every row at or after it is validation and
    every row before it is train, so training never sees the period it is evaluated on (rows
    at the cutoff instant all go to validation). ``entity``: each value of ``--entity-column``
    (a user, a device, a document) goes wholly to one side, by a hash of the value (SHA-256,
    stable across runs and machines), about ``--validation-fraction`` of the entities to
    validation. Then two more rejects keep the validation set honest: a validation row whose
    text (whitespace-collapsed, case-folded) also occurs in train is rejected as
    ``text_also_in_train``, and one whose label train does not have as
    ``label_not_in_train`` (the model cannot predict it).

Output (``--output-dir``, default ``/opt/ml/processing/output``)
    ``train/part-00000.parquet`` and ``validation/part-00000.parquet``: columns ``text``,
    ``label`` (strings), ``event_id`` (string), ``event_time`` (timestamp, UTC, microseconds),
    and the entity column for a split by entity; ordered by ``event_time`` then
    ``event_id``. ``rejects/part-00000.parquet``: ``reason``, ``event_id``, ``event_time``,
    ``text`` and ``label`` as text (non-string values as JSON), ``source_file`` (the input
    file, relative to the input directory). ``summary.json``: the counts, the split and the
    label counts. ``read == train + validation + rejected``, always.

Exit status 1, with one ``error:`` line on standard error and nothing written, when there is
nothing to learn from: no Parquet input, an empty train or validation set, or fewer than two
labels in train.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

EVENT_ID = "event_id"
EVENT_TIME = "event_time"
INGESTED_AT = "ingested_at"

MISSING_TEXT = "missing_text"
TEXT_NOT_A_STRING = "text_not_a_string"
MISSING_LABEL = "missing_label"
BAD_LABEL = "bad_label"
MISSING_EVENT_TIME = "missing_event_time"
MISSING_ENTITY = "missing_entity"
DUPLICATE_EVENT = "duplicate_event"
TEXT_ALSO_IN_TRAIN = "text_also_in_train"
LABEL_NOT_IN_TRAIN = "label_not_in_train"
#: Every reject reason, in the order they are checked.
REASONS: tuple[str, ...] = (
    MISSING_TEXT,
    TEXT_NOT_A_STRING,
    MISSING_LABEL,
    BAD_LABEL,
    MISSING_EVENT_TIME,
    MISSING_ENTITY,
    DUPLICATE_EVENT,
    TEXT_ALSO_IN_TRAIN,
    LABEL_NOT_IN_TRAIN,
)
SPLITS: tuple[str, ...] = ("time", "entity")

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NothingToLearn(Exception):
    """The input cannot make a training set (the message says why)."""


@dataclass(frozen=True)
class Options:
    """What to read and how to split; see the module docstring for the defaults."""

    text_column: str = "text"
    label_column: str = "label"
    split: str = "time"
    entity_column: str | None = None
    validation_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {self.split!r}")
        if self.split == "entity" and not self.entity_column:
            raise ValueError("a split by entity needs an entity column")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation fraction must be between 0 and 1, not {self.validation_fraction}"
            )


@dataclass
class _Row:
    event_id: str | None
    event_time: datetime | None
    ingested_at: datetime | None
    text: Any
    label: Any
    entity: Any
    source_file: str
    reason: str | None = None
    label_text: str | None = None
    key: str = field(default="", repr=False)  # normalized text


# ---------------------------------------------------------------------------------- reading


def _files(input_dir: Path) -> list[Path]:
    """The Parquet files under ``input_dir``, skipping hidden and ``_``-prefixed files and
    directories (Spark's ``_temporary``, checksum files)."""
    return sorted(
        path
        for path in input_dir.rglob("*.parquet")
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(input_dir).parts)
    )


def _column(table: pa.Table, name: str | None) -> list[Any]:
    if name is None or name not in table.column_names:
        return [None] * table.num_rows
    return table.column(name).to_pylist()


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_rows(input_dir: Path, options: Options) -> list[_Row]:
    """Every row of every Parquet file under ``input_dir``, with only the columns needed."""
    wanted = [EVENT_ID, EVENT_TIME, INGESTED_AT, options.text_column, options.label_column]
    if options.entity_column:
        wanted.append(options.entity_column)
    rows: list[_Row] = []
    for path in _files(input_dir):
        schema = pq.read_schema(path)
        present = [name for name in dict.fromkeys(wanted) if name in schema.names]
        table = pq.read_table(path, columns=present, coerce_int96_timestamp_unit="us")
        text_type = (
            schema.field(options.text_column).type if options.text_column in present else None
        )
        text_is_string = text_type is not None and (
            pa.types.is_string(text_type) or pa.types.is_large_string(text_type)
        )
        source = str(path.relative_to(input_dir))
        columns = zip(
            _column(table, EVENT_ID),
            _column(table, EVENT_TIME),
            _column(table, INGESTED_AT),
            _column(table, options.text_column),
            _column(table, options.label_column),
            _column(table, options.entity_column),
            strict=True,
        )
        for event_id, event_time, ingested_at, text, label, entity in columns:
            row = _Row(
                event_id=None if event_id is None else str(event_id),
                event_time=_as_utc(event_time),
                ingested_at=_as_utc(ingested_at),
                text=text,
                label=label,
                entity=entity,
                source_file=source,
            )
            row.reason = _reason(row, text_is_string, options)
            rows.append(row)
    return rows


def _label_text(label: Any) -> str | None:
    if isinstance(label, bool):
        return "true" if label else "false"
    if isinstance(label, int):
        return str(label)
    if isinstance(label, str) and label.strip():
        return label.strip()
    return None


def _reason(row: _Row, text_is_string: bool, options: Options) -> str | None:
    """The first reject reason that applies to ``row``, or None if it is usable."""
    if row.text is None or (isinstance(row.text, str) and not row.text.strip()):
        return MISSING_TEXT
    if not text_is_string or not isinstance(row.text, str):
        return TEXT_NOT_A_STRING
    if row.label is None:
        return MISSING_LABEL
    row.label_text = _label_text(row.label)
    if row.label_text is None:
        return BAD_LABEL
    if options.split == "time" and row.event_time is None:
        return MISSING_EVENT_TIME
    if options.split == "entity" and (row.entity is None or not str(row.entity).strip()):
        return MISSING_ENTITY
    row.key = " ".join(row.text.split()).casefold()
    return None


# --------------------------------------------------------------------------------- choosing


def _newest_first(row: _Row) -> tuple[Any, ...]:
    return (
        row.ingested_at is not None,
        row.ingested_at or _EPOCH,
        row.event_time or _EPOCH,
        row.text,
        row.label_text,
    )


def deduplicate(rows: list[_Row]) -> None:
    """Mark all but one valid row of each ``event_id`` as ``duplicate_event``."""
    by_id: dict[str, list[_Row]] = {}
    for row in rows:
        if row.reason is None and row.event_id is not None:
            by_id.setdefault(row.event_id, []).append(row)
    for copies in by_id.values():
        if len(copies) > 1:
            copies.sort(key=_newest_first, reverse=True)
            for row in copies[1:]:
                row.reason = DUPLICATE_EVENT


def entity_bucket(entity: Any) -> float:
    """Where ``entity`` falls in [0, 1): the first 8 bytes of SHA-256 of its text."""
    digest = hashlib.sha256(str(entity).strip().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _chronological(row: _Row) -> tuple[datetime, str]:
    return (row.event_time or _EPOCH, row.event_id or "")


def split(rows: list[_Row], options: Options) -> tuple[list[_Row], list[_Row], dict[str, Any]]:
    """The valid rows as (train, validation, how), rejecting the validation rows that leak."""
    valid = sorted((row for row in rows if row.reason is None), key=_chronological)
    how: dict[str, Any] = {
        "strategy": options.split,
        "validation_fraction": options.validation_fraction,
    }
    if options.split == "time":
        if not valid:
            raise NothingToLearn("no usable rows (see the rejects and their reasons)")
        boundary = len(valid) - max(1, math.ceil(len(valid) * options.validation_fraction))
        cutoff = valid[boundary].event_time
        assert cutoff is not None
        train = [row for row in valid if row.event_time < cutoff]  # type: ignore[operator]
        validation = [row for row in valid if row.event_time >= cutoff]  # type: ignore[operator]
        how["cutoff"] = cutoff.isoformat()
    else:
        how["entity_column"] = options.entity_column
        how["rule"] = "validation if the SHA-256 bucket of the entity < validation_fraction"
        train, validation = [], []
        for row in valid:
            bucket = entity_bucket(row.entity)
            (validation if bucket < options.validation_fraction else train).append(row)
    seen_texts = {row.key for row in train}
    labels = {row.label_text for row in train}
    for row in validation:
        if row.key in seen_texts:
            row.reason = TEXT_ALSO_IN_TRAIN
        elif row.label_text not in labels:
            row.reason = LABEL_NOT_IN_TRAIN
    validation = [row for row in validation if row.reason is None]
    if not train:
        raise NothingToLearn(
            "the train set is empty: every usable row falls in the validation set "
            f"({options.split} split); add data or lower --validation-fraction"
        )
    if not validation:
        raise NothingToLearn(
            "the validation set is empty after removing rows that leak (text also in train, "
            "label not in train); add data or raise --validation-fraction"
        )
    if len(labels) < 2:
        raise NothingToLearn(
            f"train has {len(labels)} label(s) ({', '.join(sorted(map(str, labels)))}); "
            "a classifier needs at least 2"
        )
    return train, validation, how


# ---------------------------------------------------------------------------------- writing


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _split_table(rows: list[_Row], entity_column: str | None) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "text": pa.array([row.text for row in rows], pa.string()),
        "label": pa.array([row.label_text for row in rows], pa.string()),
        EVENT_ID: pa.array([row.event_id for row in rows], pa.string()),
        EVENT_TIME: pa.array([row.event_time for row in rows], _TIMESTAMP),
    }
    if entity_column:
        columns[entity_column] = pa.array([_json_text(row.entity) for row in rows], pa.string())
    return pa.table(columns)


def _rejects_table(rows: list[_Row]) -> pa.Table:
    rejected = [row for row in rows if row.reason is not None]
    rejected.sort(key=lambda row: (REASONS.index(row.reason or ""), row.source_file))
    return pa.table(
        {
            "reason": pa.array([row.reason for row in rejected], pa.string()),
            EVENT_ID: pa.array([row.event_id for row in rejected], pa.string()),
            EVENT_TIME: pa.array([row.event_time for row in rejected], _TIMESTAMP),
            "text": pa.array([_json_text(row.text) for row in rejected], pa.string()),
            "label": pa.array([_json_text(row.label) for row in rejected], pa.string()),
            "source_file": pa.array([row.source_file for row in rejected], pa.string()),
        }
    )


def run(input_dir: Path, output_dir: Path, options: Options) -> dict[str, Any]:
    """Build the training set from ``input_dir`` into ``output_dir``; return the summary.

    Raises :class:`NothingToLearn` (and writes nothing) when no training set can be made.
    """
    if not input_dir.is_dir() or not _files(input_dir):
        raise NothingToLearn(f"no Parquet files under {input_dir}")
    rows = read_rows(input_dir, options)
    deduplicate(rows)
    train, validation, how = split(rows, options)
    rejects = _rejects_table(rows)
    summary: dict[str, Any] = {
        "read": len(rows),
        "train": len(train),
        "validation": len(validation),
        "rejected": rejects.num_rows,
        "rejected_by_reason": dict(sorted(Counter(rejects.column("reason").to_pylist()).items())),
        "split": how,
        "columns": {
            "text": options.text_column,
            "label": options.label_column,
            "entity": options.entity_column,
        },
        "labels": {
            "train": dict(sorted(Counter(row.label_text for row in train).items())),
            "validation": dict(sorted(Counter(row.label_text for row in validation).items())),
        },
    }
    assert summary["read"] == summary["train"] + summary["validation"] + summary["rejected"]
    entity = options.entity_column if options.split == "entity" else None
    for name, table in (
        ("train", _split_table(train, entity)),
        ("validation", _split_table(validation, entity)),
        ("rejects", rejects),
    ):
        (output_dir / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, output_dir / name / "part-00000.parquet")
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/events"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--split", choices=SPLITS, default="time")
    parser.add_argument("--entity-column", default=None)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        options = Options(
            text_column=args.text_column,
            label_column=args.label_column,
            split=args.split,
            entity_column=args.entity_column,
            validation_fraction=args.validation_fraction,
        )
        summary = run(args.input_dir, args.output_dir, options)
    except (NothingToLearn, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({key: summary[key] for key in ("read", "train", "validation", "rejected")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
