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
    it). Written with dynamic partition overwrite: the partitions of the dates present in
    this run are replaced, every other date is left alone, so re-running a day is
    idempotent. A date's partition is replaced by exactly this run's rows for that date, so
    each run must be given every event of the dates it contains (see ``main`` on Glue
    bookmarks).

Quarantine output (``quarantine_path``)
    JSON Lines, appended (each run adds its rejects), columns ``quarantine_reason``,
    ``raw_record`` (the raw text of an unparseable line, else the row serialized as JSON) and
    ``event_id``, ``event_type``, ``event_time``, ``ingested_at`` as read (strings, omitted
    when null).

Counts (returned by :func:`run`, logged, printed by :func:`main` as one JSON line)
    ``read`` (rows read), ``curated`` (rows written), ``quarantined``, ``duplicates_removed``;
    ``read == curated + quarantined + duplicates_removed``.

Arguments: ``--input-path``, ``--output-path``, ``--quarantine-path`` (``--input_path`` style
also accepted); on Glue the job parameters ``--JOB_NAME``, ``--input_path``,
``--output_path``, ``--quarantine_path``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructType

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
COUNT_KEYS: tuple[str, ...] = ("read", "curated", "quarantined", "duplicates_removed")

# An ISO-8601 date-time Spark's string-to-timestamp cast reads exactly.
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$"
_HAS_OFFSET = r"(Z|[+-]\d{2}(:?\d{2})?)$"

# Working columns; the prefix keeps them clear of payload fields.
_REASON = "__etl_reason"
_ROW_JSON = "__etl_row_json"
_EVENT_TIME_TS = "__etl_event_time"
_INGESTED_AT_TS = "__etl_ingested_at"
_RANK = "__etl_rank"


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
    """Curated rows to Parquet by ``event_date`` (dynamic partition overwrite); quarantined
    rows appended as JSON Lines."""
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
    """Split, write and count ``raw`` (plus reader-rejected rows ``unparseable``, if any)."""
    raw = raw.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        classified, data_columns = _classify(raw)
        curated = _curate(classified, raw, data_columns)
        quarantined = _quarantine(classified, raw)
        valid = F.col(_REASON).isNull()
        stats = classified.agg(
            F.count(F.lit(1)).alias("read"),
            F.count(F.when(valid, F.lit(1))).alias("valid"),
            F.countDistinct(F.when(valid, _as_string(raw, "event_id"))).alias("distinct"),
        ).collect()[0]
        extra = 0
        if unparseable is not None:
            rejected = errors_as_quarantine(unparseable)
            extra = rejected.count()
            quarantined = quarantined.unionByName(rejected)
        write_outputs(curated, quarantined, output_path, quarantine_path)
        counts = {
            "read": stats["read"] + extra,
            "curated": curated.count(),
            "quarantined": stats["read"] - stats["valid"] + extra,
            "duplicates_removed": stats["valid"] - stats["distinct"],
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
