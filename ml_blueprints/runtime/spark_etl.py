"""Spark ETL: raw events (JSON Lines) in the lake's raw zone -> curated Parquet by event date.

Runs as an AWS Glue 5.0 job (Spark 3.5, Python 3.11) or under plain Spark. Self-contained:
imports nothing from this project, so Glue can run the file on its own.

Input (``input_path``, read recursively, no partition discovery)
    JSON Lines, optionally gzip-compressed (``.gz``), one event per line, as Firehose writes
    it after its Lambda transform: an object with ``event_id`` (string), ``event_type``
    (string), ``event_time`` and ``ingested_at`` (ISO-8601 UTC, e.g.
    ``2026-11-24T16:05:09.123Z``) and any other payload fields (strings, numbers, nested
    objects). Lines are parsed in PERMISSIVE mode with a ``_corrupt_record`` column.

Validation
    A row is quarantined, never dropped, with the first reason that applies, in this order:
    ``unparseable`` (the line is not a JSON object), ``missing_event_id``,
    ``missing_event_type``, ``missing_event_time`` (field absent, null, empty or blank), then
    ``bad_event_time`` (``event_time`` is not an ISO-8601 date-time ``YYYY-MM-DD[T ]hh:mm:ss``
    with optional fraction and optional offset ``Z``/``+hh[:mm]``; no offset means UTC).
    Parsing does not depend on the Spark session time zone.

De-duplication
    Valid rows are de-duplicated on ``event_id``: the row with the latest ``ingested_at``
    wins (a missing or unparseable ``ingested_at`` loses); ties are broken by the greatest
    JSON serialization of the row, so the result does not depend on file or task order.

Curated output (``output_path``)
    Parquet, partitioned ``event_date=YYYY-MM-DD/`` (the UTC date of ``event_time``). Columns:
    the input's columns in their order (``event_id``/``event_type`` as strings,
    ``event_time``/``ingested_at`` as timestamps; ``ingested_at`` added as null if no row had
    it), then any column only the existing rows of a merged partition have.

Merge on write (nothing is lost across runs)
    With Glue job bookmarks a run sees only the files new since the last run, so one date's
    events arrive over several runs (late events, producer retries across runs). For every
    date in this run's valid rows, the existing curated rows of that date's partition (and
    only of those dates: one directory each, so the cost follows the dates touched, never the
    size of the dataset) are read and merged with this run's rows, and the merged rows
    replace those partitions (dynamic partition overwrite); every other date is left alone,
    its files untouched. Within a date, ``event_id`` is unique: a new row and an existing row
    with the same ``event_id`` are de-duplicated as above (latest ``ingested_at``, then the
    greatest JSON of the row as merged, then the existing row on a complete tie), so a
    re-send with a later ``ingested_at`` replaces the stored row, an older or identical one
    changes nothing, and re-running the same input is idempotent. An event re-sent with an
    ``event_time`` on another UTC date is not matched against the first date (finding it
    would mean reading every date). Merged rows are materialized before the write, which
    then never reads the partitions it replaces (see :func:`process`).

Payload type drift
    JSON types are inferred per run, and Spark 3.5 cannot read Parquet files that disagree on a
    column's type (neither with ``mergeSchema`` nor without), so a merge reconciles them: per
    column, over this run's rows and every merged partition, integer types widen to the
    widest of them (int -> bigint), numbers of different kinds to double, structs field by
    field (fields missing on one side are null), arrays and maps element by element, and any
    other disagreement (e.g. number and string, string and struct) to string on both sides
    (nested values as JSON text), see :func:`common_type`. Partitions a run does not touch
    keep the types they were written with, so a run that creates a new date can still write
    a type another, untouched date holds differently (``amount`` as double there, bigint
    here); Spark cannot scan those two dates together until a run touches both and merges
    them. Reconciling with every date would mean reading the footer of every file.

Quarantine output (``quarantine_path``)
    JSON Lines, appended (each run adds its rejects), columns ``quarantine_reason``,
    ``raw_record`` (the raw text of an unparseable line, else the row serialized as JSON) and
    ``event_id``, ``event_type``, ``event_time``, ``ingested_at`` as read (strings, omitted
    when null).

Counts (returned by :func:`run`, logged, printed by :func:`main` as one JSON line)
    About this run's input: ``read`` (rows read, reader-rejected ones included),
    ``quarantined`` (rows written to the quarantine), ``curated_new`` (this run's rows that
    are in the curated output after the merge) and ``duplicates_removed`` (this run's valid
    rows that are not: a duplicate within the run, or an existing row of the same
    ``event_id`` and date won); ``read == curated_new + quarantined + duplicates_removed``.
    About the merged partitions: ``merged_existing`` (existing rows kept, rewritten with the
    same values, types widened if need be) and ``replaced_existing`` (existing rows
    superseded by this run's version of the same event, or by the other copy should a
    partition hold one ``event_id`` twice); together they are the existing rows read.
    ``curated`` is every row written: ``curated == curated_new + merged_existing``.

Arguments: ``--input-path``, ``--output-path``, ``--quarantine-path`` (``--input_path`` style
also accepted); on Glue the job parameters ``--JOB_NAME``, ``--input_path``,
``--output_path``, ``--quarantine_path``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    ByteType,
    DataType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    NumericType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

LOG = logging.getLogger(__name__)

CORRUPT_COLUMN = "_corrupt_record"
REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "event_type", "event_time")
INGESTED_AT = "ingested_at"
PARTITION_COLUMN = "event_date"
REASON_COLUMN = "quarantine_reason"
RAW_RECORD_COLUMN = "raw_record"

UNPARSEABLE = "unparseable"
MISSING_EVENT_ID = "missing_event_id"
MISSING_EVENT_TYPE = "missing_event_type"
MISSING_EVENT_TIME = "missing_event_time"
BAD_EVENT_TIME = "bad_event_time"
#: Every quarantine reason, in the order they are checked.
REASONS: tuple[str, ...] = (
    UNPARSEABLE,
    MISSING_EVENT_ID,
    MISSING_EVENT_TYPE,
    MISSING_EVENT_TIME,
    BAD_EVENT_TIME,
)

#: The quarantine output's columns (besides these, nothing).
QUARANTINE_COLUMNS: tuple[str, ...] = (
    REASON_COLUMN,
    RAW_RECORD_COLUMN,
    *REQUIRED_FIELDS,
    INGESTED_AT,
)
#: The counts :func:`run` returns, in this order (see the module docstring).
COUNT_KEYS: tuple[str, ...] = (
    "read",
    "curated_new",
    "quarantined",
    "duplicates_removed",
    "merged_existing",
    "replaced_existing",
    "curated",
)

# An ISO-8601 date-time Spark's string-to-timestamp cast reads exactly.
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$"
_HAS_OFFSET = r"(Z|[+-]\d{2}(:?\d{2})?)$"

# Working columns; the prefix keeps them clear of payload fields.
_REASON = "__etl_reason"
_ROW_JSON = "__etl_row_json"
_EVENT_TIME_TS = "__etl_event_time"
_INGESTED_AT_TS = "__etl_ingested_at"
_RANK = "__etl_rank"
_EXISTING = "__etl_existing"

# Integer types, narrowest first: two of them widen to the later one.
_INTEGRAL: tuple[type[DataType], ...] = (ByteType, ShortType, IntegerType, LongType)


def _col(name: str) -> Column:
    """A top-level column by name, even if the name holds dots or backticks."""
    return F.col("`" + name.replace("`", "``") + "`")


def _as_string(df: DataFrame, name: str) -> Column:
    """Column ``name`` of ``df`` as a string; null if ``df`` has no such column."""
    if name not in df.columns:
        return F.lit(None).cast(StringType())
    data_type = df.schema[name].dataType
    if isinstance(data_type, StringType):
        return _col(name)
    if isinstance(data_type, StructType | ArrayType | MapType):
        return F.to_json(_col(name))
    return _col(name).cast(StringType())


def _blank(value: Column) -> Column:
    return value.isNull() | (F.trim(value) == "")


def _parse_instant(value: Column) -> Column:
    """An ISO-8601 date-time string as a timestamp (null if it is not one); UTC if no offset."""
    text = F.trim(value)
    with_offset = F.when(text.rlike(_HAS_OFFSET), text).otherwise(F.concat(text, F.lit("Z")))
    return F.when(text.rlike(_ISO_DATETIME), F.try_to_timestamp(with_offset))


def _utc_date(timestamp: Column) -> Column:
    """The UTC calendar date of ``timestamp``, whatever the session time zone."""
    days = F.floor(F.unix_micros(timestamp) / F.lit(86_400_000_000)).cast("int")
    return F.date_from_unix_date(days)


def _row_json(columns: Sequence[str]) -> Column:
    if not columns:
        return F.lit("{}")
    return F.to_json(F.struct(*[_col(name) for name in columns]))


def _classify(raw: DataFrame) -> tuple[DataFrame, list[str]]:
    """``raw`` with working columns: reason (null if valid), row JSON, parsed timestamps."""
    data_columns = [name for name in raw.columns if name != CORRUPT_COLUMN]
    corrupt = (
        _col(CORRUPT_COLUMN) if CORRUPT_COLUMN in raw.columns else F.lit(None).cast(StringType())
    )
    event_id, event_type, event_time = (_as_string(raw, name) for name in REQUIRED_FIELDS)
    event_time_ts = _parse_instant(event_time)
    reason = (
        F.when(corrupt.isNotNull(), F.lit(UNPARSEABLE))
        .when(_blank(event_id), F.lit(MISSING_EVENT_ID))
        .when(_blank(event_type), F.lit(MISSING_EVENT_TYPE))
        .when(_blank(event_time), F.lit(MISSING_EVENT_TIME))
        .when(event_time_ts.isNull(), F.lit(BAD_EVENT_TIME))
    )
    classified = raw.select(
        *[_col(name) for name in raw.columns],
        reason.alias(_REASON),
        F.when(corrupt.isNull(), _row_json(data_columns)).otherwise(corrupt).alias(_ROW_JSON),
        event_time_ts.alias(_EVENT_TIME_TS),
        _parse_instant(_as_string(raw, INGESTED_AT)).alias(_INGESTED_AT_TS),
    )
    return classified, data_columns


def _quarantine(classified: DataFrame, raw: DataFrame) -> DataFrame:
    parsed = F.col(_REASON) != F.lit(UNPARSEABLE)
    fields = [
        F.when(parsed, _as_string(raw, name)).alias(name)
        for name in (*REQUIRED_FIELDS, INGESTED_AT)
    ]
    return classified.where(F.col(_REASON).isNotNull()).select(
        F.col(_REASON).alias(REASON_COLUMN), F.col(_ROW_JSON).alias(RAW_RECORD_COLUMN), *fields
    )


def _curate(classified: DataFrame, raw: DataFrame, data_columns: list[str]) -> DataFrame:
    event_id = _as_string(raw, "event_id")
    latest_first = Window.partitionBy(event_id).orderBy(
        F.col(_INGESTED_AT_TS).desc_nulls_last(), F.col(_ROW_JSON).desc()
    )
    replaced = {
        "event_id": event_id,
        "event_type": _as_string(raw, "event_type"),
        "event_time": F.col(_EVENT_TIME_TS),
        INGESTED_AT: F.col(_INGESTED_AT_TS),
    }
    columns = [
        replaced.get(name, _col(name)).alias(name)
        for name in data_columns
        if name != PARTITION_COLUMN
    ]
    columns += [column.alias(name) for name, column in replaced.items() if name not in raw.columns]
    return (
        classified.where(F.col(_REASON).isNull())
        .withColumn(_RANK, F.row_number().over(latest_first))
        .where(F.col(_RANK) == 1)
        .select(*columns, _utc_date(F.col(_EVENT_TIME_TS)).alias(PARTITION_COLUMN))
    )


def common_type(left: DataType, right: DataType) -> DataType:
    """The type a column stored as ``left`` in some rows and ``right`` in others is merged as.

    Equal types stay; null goes with anything; integer types widen to the wider (int ->
    bigint); other pairs of numbers (an integer and a double, float or decimal) become double;
    structs merge field by field (``left``'s fields first, then ``right``'s others), arrays
    and maps element by element; anything else (number and string, boolean and number, a
    struct and a scalar, ...) becomes string, nested values as JSON text (see
    :func:`_conform`).
    """
    if left == right:
        return left
    if isinstance(left, NullType):
        return right
    if isinstance(right, NullType):
        return left
    if isinstance(left, _INTEGRAL) and isinstance(right, _INTEGRAL):
        return max(left, right, key=lambda value: _INTEGRAL.index(type(value)))
    if isinstance(left, NumericType) and isinstance(right, NumericType):
        return DoubleType()
    if isinstance(left, StructType) and isinstance(right, StructType):
        theirs = {field.name: field.dataType for field in right.fields}
        fields = [
            StructField(
                field.name,
                common_type(field.dataType, theirs[field.name])
                if field.name in theirs
                else field.dataType,
            )
            for field in left.fields
        ]
        ours = set(left.fieldNames())
        fields += [
            StructField(field.name, field.dataType)
            for field in right.fields
            if field.name not in ours
        ]
        return StructType(fields)
    if isinstance(left, ArrayType) and isinstance(right, ArrayType):
        return ArrayType(common_type(left.elementType, right.elementType))
    if isinstance(left, MapType) and isinstance(right, MapType):
        return MapType(
            common_type(left.keyType, right.keyType), common_type(left.valueType, right.valueType)
        )
    return StringType()


def _conform(value: Column, source: DataType, target: DataType) -> Column:
    """``value`` (of type ``source``) as ``target``, a :func:`common_type` of ``source``."""
    if source == target:
        return value
    if isinstance(target, StringType):
        if isinstance(source, StructType | ArrayType | MapType):
            return F.to_json(value)
        return value.cast(StringType())
    if isinstance(target, StructType) and isinstance(source, StructType):
        theirs = {field.name: field.dataType for field in source.fields}
        fields = [
            (
                _conform(value.getField(field.name), theirs[field.name], field.dataType)
                if field.name in theirs
                else F.lit(None).cast(field.dataType)
            ).alias(field.name)
            for field in target.fields
        ]
        return F.when(value.isNotNull(), F.struct(*fields))
    if isinstance(target, ArrayType) and isinstance(source, ArrayType):
        return F.transform(
            value, lambda element: _conform(element, source.elementType, target.elementType)
        )
    if isinstance(target, MapType) and isinstance(source, MapType):
        if source.keyType != target.keyType:
            value = F.transform_keys(
                value, lambda key, _: _conform(key, source.keyType, target.keyType)
            )
        return F.transform_values(
            value, lambda _, item: _conform(item, source.valueType, target.valueType)
        )
    return value.cast(target)


def _merge(new: DataFrame, existing: Sequence[DataFrame]) -> DataFrame:
    """``new`` curated rows and ``existing`` ones, types reconciled, each row ranked in its
    (``event_id``, ``event_date``): columns as curated, then ``_EXISTING`` (whether the row
    was already curated) and ``_RANK`` (1 for the row to keep). Pure and lazy."""
    frames = [(new, False), *((frame, True) for frame in existing)]
    types: dict[str, DataType] = {}
    for frame, _ in frames:
        for field in frame.schema.fields:
            known = types.get(field.name)
            types[field.name] = (
                field.dataType if known is None else common_type(known, field.dataType)
            )
    names = [name for name in types if name != PARTITION_COLUMN] + [PARTITION_COLUMN]

    def aligned(frame: DataFrame, is_existing: bool) -> DataFrame:
        present = {field.name: field.dataType for field in frame.schema.fields}
        return frame.select(
            *[
                (
                    _conform(_col(name), present[name], types[name])
                    if name in present
                    else F.lit(None).cast(types[name])
                ).alias(name)
                for name in names
            ],
            F.lit(is_existing).alias(_EXISTING),
        )

    merged = reduce(
        lambda left, right: left.unionByName(right, allowMissingColumns=True),
        (aligned(frame, is_existing) for frame, is_existing in frames),
    )
    # The same order as within a run (the greatest JSON of the row, here the row as merged, so
    # both sides are serialized alike); on a complete tie the existing row stays.
    latest_first = Window.partitionBy(_col("event_id"), _col(PARTITION_COLUMN)).orderBy(
        _col(INGESTED_AT).desc_nulls_last(), _row_json(names).desc(), F.col(_EXISTING).desc()
    )
    return merged.withColumn(_RANK, F.row_number().over(latest_first))


def _partition_directory(output_path: str, day: date) -> str:
    return f"{output_path.rstrip('/')}/{PARTITION_COLUMN}={day.isoformat()}"


def read_existing(spark: SparkSession, output_path: str, dates: Iterable[date]) -> list[DataFrame]:
    """The curated rows already in ``output_path`` for each of ``dates``: one DataFrame per
    partition that exists and holds data files, with ``event_date`` added.

    Only those partition directories are listed and read, never the whole dataset (a filter
    on ``event_date`` over ``output_path`` would still list every partition). They are read
    one by one because their types may differ (each was written by some run, with that run's
    types); all files of one partition come from one write and agree, ``mergeSchema`` is only
    a guard that no column is dropped.
    """
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path  # type: ignore[union-attr]
    root = hadoop_path(output_path)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if not fs.exists(root):
        return []
    frames = []
    for day in sorted(set(dates)):
        directory = _partition_directory(output_path, day)
        path = hadoop_path(directory)
        if not fs.isDirectory(path):
            continue
        names = [status.getPath().getName() for status in fs.listStatus(path) if status.isFile()]
        if not [name for name in names if not name.startswith(("_", "."))]:
            continue  # no data files (Spark would fail to infer a schema)
        frame = spark.read.option("mergeSchema", "true").parquet(directory)
        frames.append(frame.withColumn(PARTITION_COLUMN, F.lit(day)))
    return frames


def split_events(raw: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split parsed raw events into (curated, quarantined); pure, lazy, no I/O.

    ``raw`` is what ``spark.read.json(..., mode="PERMISSIVE",
    columnNameOfCorruptRecord="_corrupt_record")`` gives; the corrupt-record column and any
    of the required columns may be absent. Curated rows are valid and de-duplicated on
    ``event_id``, with timestamps and ``event_date``; quarantined rows carry
    ``quarantine_reason`` and ``raw_record`` (see the module docstring).
    """
    classified, data_columns = _classify(raw)
    return _curate(classified, raw, data_columns), _quarantine(classified, raw)


def errors_as_quarantine(errors: DataFrame) -> DataFrame:
    """Rows a reader rejected (e.g. a Glue DynamicFrame's error records) as quarantined rows:
    reason ``unparseable``, the whole row serialized as JSON in ``raw_record``."""
    return errors.select(
        F.lit(UNPARSEABLE).alias(REASON_COLUMN),
        _row_json(errors.columns).alias(RAW_RECORD_COLUMN),
        *[F.lit(None).cast(StringType()).alias(name) for name in QUARANTINE_COLUMNS[2:]],
    )


def read_raw(spark: SparkSession, input_path: str) -> DataFrame:
    """Read raw JSON Lines (gzip or not) under ``input_path``, recursively, in PERMISSIVE mode.

    Partition discovery is off (``recursiveFileLookup``), so Firehose's ``year=/month=/...``
    prefixes do not turn into columns.
    """
    return (
        spark.read.option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .option("recursiveFileLookup", "true")
        .json(input_path)
    )


def write_outputs(
    curated: DataFrame, quarantined: DataFrame, output_path: str, quarantine_path: str
) -> None:
    """Curated rows to Parquet by ``event_date`` (dynamic partition overwrite: the partitions
    of the dates in ``curated`` are replaced, no other); quarantined rows appended as JSON
    Lines. ``curated`` must not be lazily read from ``output_path`` (see :func:`process`)."""
    (
        curated.write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(PARTITION_COLUMN)
        .parquet(output_path)
    )
    quarantined.write.mode("append").json(quarantine_path)


def process(
    raw: DataFrame,
    output_path: str,
    quarantine_path: str,
    unparseable: DataFrame | None = None,
) -> dict[str, int]:
    """Split ``raw`` (plus reader-rejected rows ``unparseable``, if any), merge the valid rows
    into the curated partitions of their dates, write both outputs, return the counts."""
    spark = raw.sparkSession
    raw = raw.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        classified, data_columns = _classify(raw)
        new = _curate(classified, raw, data_columns)
        quarantined = _quarantine(classified, raw)
        valid = F.col(_REASON).isNull()
        stats = classified.agg(
            F.count(F.lit(1)).alias("read"),
            F.count(F.when(valid, F.lit(1))).alias("valid"),
            F.collect_set(F.when(valid, _utc_date(F.col(_EVENT_TIME_TS)))).alias("dates"),
        ).collect()[0]
        extra = 0
        if unparseable is not None:
            rejected = errors_as_quarantine(unparseable)
            extra = rejected.count()
            quarantined = quarantined.unionByName(rejected)
        existing = read_existing(spark, output_path, stats["dates"])
        LOG.info(
            "spark_etl: %d date(s) in this run, %d of them already curated (merged)",
            len(stats["dates"]),
            len(existing),
        )
        # Materialize the merged rows before the write replaces the partitions they were read
        # from. Left lazy, the old files would be read again by every action on the plan:
        # the counts, and any stage or task Spark recomputes; whether that still finds the
        # old files would hang on when the commit protocol in use (Spark's own locally, an
        # S3-optimized one on Glue) deletes them. localCheckpoint(eager=True) computes the
        # rows once and cuts the lineage: the counts and the write read the checkpointed
        # blocks (memory and disk on the executors), never the partitions being replaced.
        # persist() would not cut it (lost or evicted blocks are recomputed from the files),
        # and a staging copy on S3 plus a move would double the writes for no atomicity (S3
        # has no rename: a move is a copy and a delete per object). If an executor holding
        # blocks is lost, the write fails before its commit: the curated zone is unchanged,
        # the Glue bookmark is not committed and a retry reads the same input. (Dynamic
        # allocation keeps executors holding cached blocks unless
        # spark.dynamicAllocation.cachedExecutorIdleTimeout is set.)
        merged = _merge(new, existing).localCheckpoint(eager=True)
        kept = F.col(_RANK) == 1
        was_curated = F.col(_EXISTING)
        tally = merged.agg(
            F.count(F.when(kept & ~was_curated, F.lit(1))).alias("curated_new"),
            F.count(F.when(was_curated, F.lit(1))).alias("existing"),
            F.count(F.when(kept & was_curated, F.lit(1))).alias("merged_existing"),
        ).collect()[0]
        write_outputs(
            merged.where(kept).drop(_EXISTING, _RANK), quarantined, output_path, quarantine_path
        )
        counts = {
            "read": stats["read"] + extra,
            "curated_new": tally["curated_new"],
            "quarantined": stats["read"] - stats["valid"] + extra,
            "duplicates_removed": stats["valid"] - tally["curated_new"],
            "merged_existing": tally["merged_existing"],
            "replaced_existing": tally["existing"] - tally["merged_existing"],
            "curated": tally["curated_new"] + tally["merged_existing"],
        }
    finally:
        raw.unpersist()
    LOG.info("spark_etl counts: %s", json.dumps(counts, sort_keys=True))
    return counts


def run(
    spark: SparkSession, input_path: str, output_path: str, quarantine_path: str
) -> dict[str, int]:
    """Read ``input_path`` with plain Spark, write both outputs, return the counts."""
    return process(read_raw(spark, input_path), output_path, quarantine_path)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("input", "output", "quarantine"):
        parser.add_argument(f"--{name}-path", f"--{name}_path", dest=f"{name}_path", required=True)
    return parser.parse_args(list(argv))


def _main_glue(argv: list[str] | None) -> dict[str, int]:  # pragma: no cover - needs awsglue
    """The job on AWS Glue: job bookmarks track the files already processed."""
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(
        sys.argv if argv is None else [sys.argv[0], *argv],
        ["JOB_NAME", "input_path", "output_path", "quarantine_path"],
    )
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    frame = glue_context.create_dynamic_frame.from_options(
        connection_type="s3",
        connection_options={"paths": [args["input_path"]], "recurse": True},
        format="json",
        transformation_ctx="raw_events",
    )
    counts = process(
        frame.toDF(),
        args["output_path"],
        args["quarantine_path"],
        unparseable=frame.errorsAsDynamicFrame().toDF(),
    )
    job.commit()
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point: on AWS Glue when ``awsglue`` is importable, else argparse and plain Spark.

    Plain Spark reuses an active session (and then leaves it running) or creates one and
    stops it at the end. Prints the counts as one JSON line; returns 0.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        import awsglue  # noqa: F401
    except ImportError:
        glue = False
    else:
        glue = True
    if glue:  # pragma: no cover - needs awsglue
        counts = _main_glue(argv)
    else:
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
