"""Spark ETL: raw events (JSON Lines) in the lake's raw zone -> curated Parquet by event date.

Runs as an AWS Glue 5.0 job (Spark 3.5), as an EMR step or under plain Spark (Python 3.9+; no
PySpark function newer than Spark 3.3).
It needs three modules beside it, shipped with it as one zip (Glue ``--extra-py-files``, EMR
``spark-submit --py-files``): :mod:`event_contract`, the rules the Firehose transform applies
too, :mod:`spark_files`, the input files and the ledger, and :mod:`spark_schema`, the payload
types.

Input (``input_path``, every file under it, gzip (``.gz``) or not; names starting with ``_`` or
``.`` skipped)
    Lines of text, each one event as :mod:`event_contract` defines it, as Firehose writes them
    after its transform; a line ends at LF (a CR before it or between tokens is JSON
    whitespace). Lines holding nothing but JSON whitespace are not events (not counted).
    Every other line is checked with :func:`event_contract.check_event`, the transform's own
    check, in Python: a line is curated exactly when the transform would accept it, and
    quarantined with the transform's reason otherwise. Nothing a line holds can fail the run.

Processed files (the ledger)
    The job keeps a ledger of the input files it has processed under
    ``quarantine_path/_ledger/`` (:mod:`spark_files`) and reads only the others, so a run
    costs what arrived since the last one, and a rerun or retry after a failure processes
    exactly what was not committed. Files are identified by their full path (the raw zone is
    written once: a file changed in place is not read again). A run appends one ledger entry
    after both its outputs are written; its quarantine output only counts once that entry
    exists, and the next run deletes the quarantine output of a run that failed before it (so
    the retry writes those rows once). One run at a time (the Glue job allows one concurrent
    run, EMR runs its steps in order). A missing or empty input path is a run with nothing to
    do.

De-duplication
    Within a run, events are de-duplicated on ``event_id``; in the curated output, on
    (``event_id``, ``event_date``): the row with the latest ``ingested_at`` wins (a missing one
    loses), ties broken by the greatest JSON of the row as stored, then the existing row. So a
    re-send with a later ``ingested_at`` replaces the stored row, an older or identical one
    changes nothing, and processing the same input twice changes nothing. An event re-sent
    with an ``event_time`` on another UTC date is not matched against the first date (that
    would mean reading every date).

Curated output (``output_path``)
    Parquet, partitioned ``event_date=YYYY-MM-DD/`` (the UTC date of ``event_time``; years 1 to
    9999, written in the proleptic Gregorian calendar that ISO-8601 and every current engine
    use). Columns: ``event_id``, ``event_type`` (strings), ``event_time``, ``ingested_at``
    (timestamps), then one per payload field, named in lower case (as the Glue Data Catalog and
    Athena name columns; the contract rejects an event holding two names that fold alike),
    sorted by name, with the types of :mod:`spark_schema`: every value kept (a field absent and
    a field ``null`` are the same), integers exactly, other numbers as their nearest double (as
    RFC 8259 advises for interoperable JSON; the raw zone keeps their digits), or their text
    in a ``string`` column. One type per column for all the dates a run writes. For every date
    in this run's events, the existing rows of that date's partition (and only of those dates:
    one directory each) are read and merged with this run's rows, types reconciled
    (:func:`spark_schema.common_type`), and the merged rows replace those partitions (dynamic
    partition overwrite); every other date is left alone, its files untouched. Partitions a
    run does not touch keep the types they were written with, so two dates can hold a column
    with different types (``bigint`` in one, ``double`` in another) until a run touches both.

Quarantine output (``quarantine_path/batch=<id>/``, one directory per run)
    JSON Lines with ``quarantine_reason`` (the contract's reason, or ``internal_error``),
    ``raw_record`` (the line as read; for a line that is not UTF-8, ``raw_record_base64``
    instead), ``source_file`` (the input file's URI) and ``event_id``, ``event_type``,
    ``event_time``, ``ingested_at`` as read (strings, JSON text for other values, omitted when
    absent or null).

Counts (returned by :func:`run`, logged, printed by :func:`main` as one JSON line)
    ``files`` (input files processed), ``files_skipped`` (already in the ledger), ``read``
    (events: lines that are not blank), ``quarantined``, ``curated_new`` (this run's events in
    the curated output after the merge) and ``duplicates_removed`` (this run's valid events
    that are not: a duplicate within the run, or an existing row of the same ``event_id`` and
    date won); ``read == curated_new + quarantined + duplicates_removed``. About the merged
    partitions: ``merged_existing`` (existing rows kept) and ``replaced_existing`` (existing
    rows superseded by this run's version of the same event); together they are the existing
    rows read. ``curated == curated_new + merged_existing`` is every row written.

Arguments: ``--input-path``, ``--output-path``, ``--quarantine-path`` (``--input_path`` style
also accepted, so the Glue job parameters work; other arguments Glue passes are ignored).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

try:  # in the package
    from ml_blueprints.runtime import event_contract as contract
    from ml_blueprints.runtime import spark_files as fileio
    from ml_blueprints.runtime import spark_schema as schema
except ImportError:  # on Glue or EMR: shipped beside this script
    import event_contract as contract  # type: ignore[no-redef]
    import spark_files as fileio  # type: ignore[no-redef]
    import spark_schema as schema  # type: ignore[no-redef]

BATCH_COLUMN = fileio.BATCH_COLUMN
LEDGER_DIRECTORY = fileio.LEDGER_DIRECTORY

LOG = logging.getLogger(__name__)

PARTITION_COLUMN = contract.PARTITION_FIELD
INGESTED_AT = contract.INGESTED_AT
#: The curated columns every row has, before the payload's and the partition column.
KEY_COLUMNS: tuple[str, ...] = (*contract.REQUIRED_FIELDS, INGESTED_AT)
_KEY_TYPES: dict[str, DataType] = {
    contract.EVENT_ID: StringType(),
    contract.EVENT_TYPE: StringType(),
    contract.EVENT_TIME: TimestampType(),
    INGESTED_AT: TimestampType(),
}
REASON_COLUMN = "quarantine_reason"
RAW_RECORD_COLUMN = "raw_record"
RAW_BASE64_COLUMN = "raw_record_base64"
SOURCE_FILE_COLUMN = "source_file"
#: A reason of the job's own: a defect turned a valid event into a quarantined one.
INTERNAL_ERROR = "internal_error"
#: The quarantine output's columns (besides these, nothing).
QUARANTINE_COLUMNS: tuple[str, ...] = (
    REASON_COLUMN,
    RAW_RECORD_COLUMN,
    RAW_BASE64_COLUMN,
    SOURCE_FILE_COLUMN,
    *KEY_COLUMNS,
)
#: The counts :func:`run` returns, in this order (see the module docstring).
COUNT_KEYS: tuple[str, ...] = (
    "files",
    "files_skipped",
    "read",
    "curated_new",
    "quarantined",
    "duplicates_removed",
    "merged_existing",
    "replaced_existing",
    "curated",
)
#: Session settings for a run: timestamps before 1900 (or dates before 1582) are written and
#: read as they are, in the proleptic Gregorian calendar, instead of failing the write.
SESSION_SETTINGS: dict[str, str] = {
    f"spark.sql.parquet.{name}": "CORRECTED"
    for name in (
        "int96RebaseModeInWrite",
        "datetimeRebaseModeInWrite",
        "int96RebaseModeInRead",
        "datetimeRebaseModeInRead",
    )
}

# What :func:`check_line` returns for each line.
_CHECKED = StructType(
    [
        StructField("reason", StringType()),
        StructField("raw_base64", StringType()),
        *(StructField(name, StringType()) for name in KEY_COLUMNS),
        StructField("event_time_ms", LongType()),
        StructField("ingested_at_ms", LongType()),
        StructField("event_day", IntegerType()),
        StructField("payload", StringType()),
        StructField("payload_type", StringType()),
    ]
)
_EPOCH_DAY = date(1970, 1, 1)
# Working columns, next to the data (which is kept in one struct column, so that no payload
# field name can clash with them).
_DATA, _FILE, _CHECK, _CONVERTED, _ROW = "__data", "__file", "__check", "__converted", "__row"
_EXISTING, _RANK = "__existing", "__rank"


# --- one line --------------------------------------------------------------------------------


def _as_read(event: dict[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None or isinstance(value, str):
        return value
    return contract.dumps(value)


def check_line(data: bytes | bytearray | None) -> tuple[Any, ...]:
    """One input line checked against the contract, as a tuple of :data:`_CHECKED`'s fields.

    ``reason`` is ``None`` for a valid event, ``empty`` for a blank line, else the contract's
    reason (``internal_error`` for an unexpected exception: one line never fails the run);
    ``raw_base64`` is the line in base64 when it is not UTF-8 (its text cannot be written).
    A valid event comes with its normalized key fields, ``event_time`` and ``ingested_at`` in
    epoch milliseconds, its UTC day (days since 1970-01-01), its payload (every other field,
    names folded and sorted) as JSON and the payload's Spark type as JSON; a rejected one
    with its key fields as read, when it parsed.
    """
    raw = bytes(data or b"")
    try:
        raw.decode("utf-8")
        raw_base64 = None
    except UnicodeDecodeError:
        raw_base64 = base64.b64encode(raw).decode("ascii")
    event: dict[str, Any] = {}
    try:
        event = contract.parse_event(raw)
        valid = contract.validate_event(event)
        event_time_ms = contract.timestamp_millis(valid[contract.EVENT_TIME])
        ingested_at = valid.get(INGESTED_AT)
        payload = schema.fold_tree(
            {name: value for name, value in valid.items() if name not in KEY_COLUMNS}
        )
        return (
            None,
            raw_base64,
            *(valid.get(name) for name in KEY_COLUMNS),
            event_time_ms,
            None if ingested_at is None else contract.timestamp_millis(ingested_at),
            event_time_ms // 86_400_000,
            contract.dumps(payload),
            schema.infer(payload).json(),
        )
    except contract.Rejected as rejected:
        reason = rejected.reason
    except Exception:  # a defect: quarantine the line, keep the run going
        reason = INTERNAL_ERROR
    return (reason, raw_base64, *(_as_read(event, name) for name in KEY_COLUMNS), *(None,) * 5)


def payload_converter(payload_type: StructType) -> Any:
    """A function: a payload's JSON (from :func:`check_line`) -> (the payload as a row of
    ``payload_type``, None), or (None, the error) if it does not fit (a defect)."""

    def convert(text: str) -> tuple[Any, str | None]:
        try:
            return schema.to_spark(contract.parse_event(text.encode("utf-8")), payload_type), None
        except Exception as error:
            return None, f"{type(error).__name__}: {error}"

    return convert


# --- curated rows ----------------------------------------------------------------------------


def _col(name: str) -> Column:
    """A top-level column by name, even if the name holds dots or backticks."""
    return F.col("`" + name.replace("`", "``") + "`")


def _partition_directory(output_path: str, day: date) -> str:
    return fileio.child(output_path, f"{PARTITION_COLUMN}={day.isoformat()}")


def read_existing(spark: SparkSession, output_path: str, dates: Iterable[date]) -> list[DataFrame]:
    """The curated rows already in ``output_path`` for each of ``dates``, with ``event_date``:
    one DataFrame, or one per partition when their types differ.

    Only the partition directories of ``dates`` that hold data files are listed and read,
    never the whole dataset. They are read together when their schemas merge; Spark refuses to
    merge a column two partitions hold with different types (each was written by some run,
    with that run's types), and then they are read one by one. All files of one partition come
    from one write and agree.
    """
    fs, root = fileio.filesystem(spark, output_path)
    if not fs.exists(root):
        return []
    directories = []
    for day in sorted(set(dates)):
        directory = _partition_directory(output_path, day)
        _, path = fileio.filesystem(spark, directory)
        if not fs.isDirectory(path):
            continue
        names = [status.getPath().getName() for status in fs.listStatus(path) if status.isFile()]
        if [name for name in names if not name.startswith(("_", "."))]:
            directories.append(directory)
    LOG.info(
        "spark_etl: %d date(s) in this run, %d of them already curated (merged)",
        len(set(dates)),
        len(directories),
    )
    if not directories:
        return []
    reader = spark.read.option("mergeSchema", "true").option("basePath", output_path)
    try:
        frames = [reader.parquet(*map(fileio.literal, directories))]
    except Exception:  # types differ between partitions: read each on its own
        LOG.warning(
            "spark_etl: the %d partitions to merge hold different types (Spark may log the "
            "failed schema merge as an error); reading them one by one",
            len(directories),
        )
        frames = [reader.parquet(fileio.literal(directory)) for directory in directories]
    return [
        frame.withColumn(PARTITION_COLUMN, _col(PARTITION_COLUMN).cast("date")) for frame in frames
    ]


def _payload_fields(frame: DataFrame) -> StructType:
    """The payload columns of an existing partition, as one struct type."""
    keys = {*KEY_COLUMNS, PARTITION_COLUMN}
    return StructType([field for field in frame.schema.fields if field.name not in keys])


def _ordered(rows: DataFrame, partition: Sequence[Column], *tie_breaks: Column) -> DataFrame:
    """``rows`` (a ``_ROW`` struct each) ranked within ``partition``: latest ``ingested_at``
    first (a missing one last), then the greatest JSON of the row, then ``tie_breaks``."""
    row = F.col(_ROW)
    order = Window.partitionBy(*partition).orderBy(
        row.getField(INGESTED_AT).desc_nulls_last(),
        F.to_json(row, {"timeZone": "UTC"}).desc(),
        *tie_breaks,
    )
    return rows.withColumn(_RANK, F.row_number().over(order))


def merge(new: DataFrame, existing: Sequence[DataFrame], payload: StructType) -> DataFrame:
    """This run's valid rows ``new`` (a ``_ROW`` struct each, already as ``payload`` says) and
    the ``existing`` partitions' rows, each as ``_ROW``, ``_EXISTING`` (whether the row was
    already curated) and ``_RANK`` (1 for the row to keep of its (``event_id``,
    ``event_date``)); this run's duplicates of an ``event_id`` are left out. Lazy."""
    frames = [new.select(_ROW, F.lit(False).alias(_EXISTING))]
    for frame in existing:
        keys = [
            (_col(name) if name in frame.columns else F.lit(None))
            .cast(_KEY_TYPES[name])
            .alias(name)
            for name in KEY_COLUMNS
        ]
        row = F.struct(
            *keys,
            *schema.fields_as(_col, _payload_fields(frame), payload),
            _col(PARTITION_COLUMN).alias(PARTITION_COLUMN),
        )
        frames.append(frame.select(row.alias(_ROW), F.lit(True).alias(_EXISTING)))
    union = reduce(DataFrame.unionByName, frames)
    row = F.col(_ROW)
    # Within the run, one row per event_id; then one per (event_id, event_date) with the
    # existing rows; on a complete tie the existing row stays.
    new_ranked = _ordered(union.where(~F.col(_EXISTING)), [row.getField(contract.EVENT_ID)])
    candidates = new_ranked.where(F.col(_RANK) == 1).drop(_RANK)
    return _ordered(
        candidates.unionByName(union.where(F.col(_EXISTING))),
        [row.getField(contract.EVENT_ID), row.getField(PARTITION_COLUMN)],
        F.col(_EXISTING).desc(),
    )


# --- a run -----------------------------------------------------------------------------------


def _empty_counts(files_skipped: int = 0) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["files_skipped"] = files_skipped
    return counts


def process(
    spark: SparkSession,
    files: Sequence[str],
    output_path: str,
    quarantine_path: str,
    batch: str,
) -> dict[str, int]:
    """Check every line of ``files``, merge the valid events into the curated partitions of
    their dates, write both outputs (the quarantine to ``batch=<batch>``), return the counts
    (``files_skipped`` 0). Writes no ledger entry: :func:`run` does."""
    # One event a line, lines ending at LF only, as Firehose writes them: a CR before it (a
    # CRLF file) or between tokens is JSON whitespace, as it is for the transform.
    reader = spark.read.option("lineSep", "\n")
    lines = reader.text([fileio.literal(name) for name in files]).select(
        F.col("value").cast("binary").alias(_DATA), F.input_file_name().alias(_FILE)
    )
    check = F.udf(check_line, _CHECKED)
    checked = (
        lines.select(_DATA, _FILE, check(F.col(_DATA)).alias(_CHECK))
        .where(F.col(f"{_CHECK}.reason").isNull() | (F.col(f"{_CHECK}.reason") != contract.EMPTY))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    converted: DataFrame | None = None
    try:
        valid = F.col(f"{_CHECK}.reason").isNull()
        stats = checked.agg(
            F.count(F.lit(1)).alias("read"),
            F.count(F.when(valid, F.lit(1))).alias("valid"),
            F.collect_set(F.when(valid, F.col(f"{_CHECK}.event_day"))).alias("days"),
            F.collect_set(F.when(valid, F.col(f"{_CHECK}.payload_type"))).alias("types"),
        ).collect()[0]
        if not stats["valid"]:  # nothing to curate: no merge and no curated write
            counts = {**_empty_counts(), "files": len(files), "read": stats["read"]}
            counts["quarantined"] = stats["read"]
            if counts["quarantined"]:
                _write_quarantine(_quarantine_rows(checked), quarantine_path, batch)
            return counts
        dates = [_EPOCH_DAY + timedelta(days=day) for day in stats["days"]]
        existing = read_existing(spark, output_path, dates)
        payload = schema.storable(
            schema.merge_types(
                [
                    *(StructType.fromJson(json.loads(text)) for text in stats["types"]),
                    *(schema.normalize(_payload_fields(frame)) for frame in existing),
                ]
            )
        )
        if not isinstance(payload, StructType):
            payload = StructType([])
        if payload.fields:
            result = StructType(
                [StructField("payload", payload), StructField("error", StringType())]
            )
            conversion = F.udf(payload_converter(payload), result)(F.col(f"{_CHECK}.payload"))
        else:  # no payload fields at all (Spark cannot return an empty struct)
            conversion = F.struct(F.lit(None).cast(StringType()).alias("error"))
        converted = (
            checked.where(valid)
            .select(_FILE, _DATA, _CHECK, conversion.alias(_CONVERTED))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        failed = converted.where(F.col(f"{_CONVERTED}.error").isNotNull())
        check_col, payload_col = F.col(_CHECK), F.col(f"{_CONVERTED}.payload")
        new = converted.where(F.col(f"{_CONVERTED}.error").isNull()).select(
            F.struct(
                check_col.getField(contract.EVENT_ID).alias(contract.EVENT_ID),
                check_col.getField(contract.EVENT_TYPE).alias(contract.EVENT_TYPE),
                _sql("timestamp_millis", "event_time_ms").alias(contract.EVENT_TIME),
                _sql("timestamp_millis", "ingested_at_ms").alias(INGESTED_AT),
                *(payload_col.getField(field.name).alias(field.name) for field in payload),
                _sql("date_from_unix_date", "event_day").alias(PARTITION_COLUMN),
            ).alias(_ROW)
        )
        # Materialize the merged rows before the write replaces the partitions they were read
        # from. Left lazy, the old files would be read again by every action on the plan (the
        # counts, any stage Spark recomputes), and whether they are still there would hang on
        # when the commit protocol deletes them. localCheckpoint(eager=True) computes the rows
        # once and cuts the lineage; persist() would not (lost blocks are recomputed from the
        # files). If an executor holding blocks is lost, the write fails before its commit:
        # the curated zone is unchanged, no ledger entry is written, a retry reads the input
        # again.
        merged = merge(new, existing, payload).localCheckpoint(eager=True)
        kept, was_curated = F.col(_RANK) == 1, F.col(_EXISTING)
        # One job over both: a flag per count for each merged row and each failed conversion.
        merged_flags = {
            "curated_new": kept & ~was_curated,
            "existing": was_curated,
            "merged_existing": kept & was_curated,
        }
        flags = merged.select(
            *(flag.alias(name) for name, flag in merged_flags.items()),
            F.lit(False).alias("errors"),
        ).unionByName(
            failed.select(
                *(F.lit(False).alias(name) for name in merged_flags),
                F.lit(True).alias("errors"),
            )
        )
        tally = flags.agg(
            *(F.count(F.when(F.col(name), F.lit(1))).alias(name) for name in flags.columns)
        ).collect()[0]
        errors = tally["errors"]
        counts = {
            "files": len(files),
            "files_skipped": 0,
            "read": stats["read"],
            "curated_new": tally["curated_new"],
            "quarantined": stats["read"] - stats["valid"] + errors,
            "duplicates_removed": stats["valid"] - errors - tally["curated_new"],
            "merged_existing": tally["merged_existing"],
            "replaced_existing": tally["existing"] - tally["merged_existing"],
            "curated": tally["curated_new"] + tally["merged_existing"],
        }
        if counts["curated"] or counts["replaced_existing"]:
            (
                merged.where(kept)
                .select(f"{_ROW}.*")
                .write.mode("overwrite")
                .option("partitionOverwriteMode", "dynamic")
                .partitionBy(PARTITION_COLUMN)
                .parquet(output_path)
            )
        if errors:
            LOG.error("spark_etl: %d valid event(s) could not be converted (a defect)", errors)
        if counts["quarantined"]:
            _write_quarantine(
                _quarantine_rows(checked.where(~valid), failed), quarantine_path, batch
            )
    finally:
        checked.unpersist()
        if converted is not None:
            converted.unpersist()
    return counts


def _sql(function: str, field: str) -> Column:
    """A SQL function of a field of the checked line (SQL: in PySpark only from 3.5 on, in
    Spark SQL since 3.1, so the job also runs on Glue 4.0)."""
    return F.expr(f"{function}(`{_CHECK}`.`{field}`)")


def _quarantine_rows(rejected: DataFrame, failed: DataFrame | None = None) -> DataFrame:
    """The quarantine records of the ``rejected`` lines (their reason) and of the valid lines
    whose conversion ``failed`` (``internal_error``)."""

    def rows(frame: DataFrame, reason: Column) -> DataFrame:
        raw_base64 = F.col(f"{_CHECK}.raw_base64")
        return frame.select(
            reason.alias(REASON_COLUMN),
            F.when(raw_base64.isNull(), F.col(_DATA).cast("string")).alias(RAW_RECORD_COLUMN),
            raw_base64.alias(RAW_BASE64_COLUMN),
            F.col(_FILE).alias(SOURCE_FILE_COLUMN),
            *(F.col(f"{_CHECK}.{name}").alias(name) for name in KEY_COLUMNS),
        )

    quarantined = rows(rejected, F.col(f"{_CHECK}.reason"))
    if failed is None:
        return quarantined
    return quarantined.unionByName(rows(failed, F.lit(INTERNAL_ERROR)))


def _write_quarantine(rows: DataFrame, quarantine_path: str, batch: str) -> None:
    rows.write.mode("overwrite").json(fileio.child(quarantine_path, f"{BATCH_COLUMN}={batch}"))


#: The runs under way in this process, per session:
#: {id(session): ([how many], the session's own settings from before the first)}.
_RUNS_UNDER_WAY: dict[int, tuple[list[int], dict[str, str | None]]] = {}
_RUNS_LOCK = threading.Lock()


@contextmanager
def session_settings(spark: SparkSession) -> Iterator[None]:
    """:data:`SESSION_SETTINGS` on ``spark`` for the time of a run, then the session's own
    again. They are session-wide, so with runs under way at the same time in one process (on
    other outputs, from threads), they stay until the last of them has finished."""
    with _RUNS_LOCK:
        if id(spark) not in _RUNS_UNDER_WAY:
            saved = {key: spark.conf.get(key, None) for key in SESSION_SETTINGS}
            for key, value in SESSION_SETTINGS.items():
                spark.conf.set(key, value)
            _RUNS_UNDER_WAY[id(spark)] = ([0], saved)
        runs, saved = _RUNS_UNDER_WAY[id(spark)]
        runs[0] += 1
    try:
        yield
    finally:
        with _RUNS_LOCK:
            runs[0] -= 1
            if runs[0] == 0:
                del _RUNS_UNDER_WAY[id(spark)]
                for key, value in saved.items():
                    if value is None:
                        spark.conf.unset(key)
                    else:
                        spark.conf.set(key, value)


def run(
    spark: SparkSession, input_path: str, output_path: str, quarantine_path: str
) -> dict[str, int]:
    """Process the files under ``input_path`` the ledger does not list yet, write both
    outputs and the ledger entry, return the counts (see the module docstring)."""
    with session_settings(spark):
        processed, committed = fileio.read_ledger(spark, quarantine_path)
        removed = fileio.remove_uncommitted_batches(spark, quarantine_path, committed)
        if removed:
            LOG.warning("spark_etl: removed the quarantine of failed run(s) %s", removed)
        # never the job's own outputs, should they lie under the input path
        outputs = [fileio.qualified(spark, path) for path in (output_path, quarantine_path)]
        files = [
            name
            for name in fileio.list_input_files(spark, input_path)
            if not any(fileio.is_under(name, output) for output in outputs)
        ]
        pending = [name for name in files if name not in processed]
        skipped = len(files) - len(pending)
        if not pending:
            counts = _empty_counts(skipped)
        else:
            batch = fileio.batch_id(pending)
            counts = process(spark, pending, output_path, quarantine_path, batch)
            counts["files_skipped"] = skipped
            fileio.write_ledger_entry(spark, quarantine_path, batch, pending)
    LOG.info("spark_etl counts: %s", json.dumps(counts, sort_keys=True))
    return counts


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("input", "output", "quarantine"):
        parser.add_argument(f"--{name}-path", f"--{name}_path", dest=f"{name}_path", required=True)
    args, _ = parser.parse_known_args(list(argv))  # Glue adds its own (--JOB_NAME, ...)
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point (Glue, EMR, plain Spark): parse the arguments, run, print the counts as one
    JSON line, return 0. Reuses an active session (and then leaves it running) or creates one
    and stops it at the end."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    active = SparkSession.getActiveSession()
    spark = active or SparkSession.builder.appName("ml-blueprints-spark-etl").getOrCreate()
    try:
        counts = run(spark, args.input_path, args.output_path, args.quarantine_path)
    finally:
        if active is None:
            spark.stop()
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
