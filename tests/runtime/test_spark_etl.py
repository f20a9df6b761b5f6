"""The Spark ETL job, run for real in local mode on raw JSON Lines the tests write.

Few runs, each covering many cases: a first run over a mixed raw zone, a second run over a
copy of its output (late events, re-sends, type and case drift, a partition an older version
wrote), reruns (the ledger; a retry after a failure), and the inputs with nothing to curate.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DecimalType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ml_blueprints.runtime import spark_etl
from tests.runtime.conftest import prefetch, prefetched

DAY_A = date(2026, 11, 24)
DAY_B = date(2026, 11, 25)
DAY_C = date(2026, 11, 26)


def event(event_id: Any, event_time: Any = "2026-11-24T16:05:09.123Z", **fields: Any) -> str:
    """One JSON line; a field passed as ``...`` is left out."""
    record = {
        "event_id": event_id,
        "event_type": fields.pop("event_type", "click"),
        "event_time": event_time,
        "ingested_at": fields.pop("ingested_at", "2026-11-24T16:05:10.000Z"),
        **fields,
    }
    return json.dumps({key: value for key, value in record.items() if value is not ...})


def raw_event(event_id: str, members: str, event_time: str = "2026-11-24T16:05:09.123Z") -> str:
    """An event with raw JSON ``members`` appended (numbers as written, repeated names)."""
    return (
        f'{{"event_id":"{event_id}","event_type":"click","event_time":"{event_time}",'
        f'"ingested_at":"2026-11-24T16:05:10.000Z",{members}}}'
    )


TRUNCATED = '{"event_id": "t1", "event_type": "cl'
PLAIN_TEXT = "this is not json at all"
NOT_UTF8 = b'{"event_id": "caf\xe9"}'

# Firehose-style prefixes (arrival time); they must not become columns.
BATCH_1 = "events/year=2026/month=11/day=24/hour=16/batch-1.jsonl.gz"
BATCH_1_LINES = [
    event("e1", user={"id": 7, "name": "Zoë", "tags": ["a", "b"]}, Amount=12.5),
    event("e2", "2026-11-24T23:59:59.999Z", text="日本語 ✓ café", amount=3),
    event("e3", "2026-11-25T10:00:00Z", ingested_at="2026-11-25T10:00:01Z", amount=1),
    TRUNCATED,
    event("e4", "2026-11-25T00:00:00.000Z", event_type="View"),
]
BATCH_2 = "events/year=2026/month=11/day=25/hour=10/batch-2.jsonl"
BATCH_2_LINES = [
    BATCH_1_LINES[0],  # exact duplicate of e1
    # e3 retried: later ingestion, different payload; this one must win
    event("e3", "2026-11-25T10:00:00Z", ingested_at="2026-11-25T10:05:00Z", amount=2),
    PLAIN_TEXT,
    "",  # blank lines are not events
    "  \t",
    event(..., note="no id"),
    event("m2", event_type=...),
    event("m3", event_time=...),
    event("", note="empty id"),
    event(None, note="null id"),
    event(42, note="a number"),
    event("m5", event_type="   "),
    event("m6", event_time=""),
    event("b1", event_time="yesterday at noon"),
    event("b2", event_time="2026-13-01T00:00:00Z"),
    event("b3", event_time=1795536309),  # epoch seconds: not read as a date in 1970
    event("b4", ingested_at="from the producer"),
    # +01:00 offset: 2026-11-25T23:30Z in UTC, so event_date is 2026-11-25
    event("e5", "2026-11-26T00:30:00+01:00", event_type="purchase"),
    # one object with a duplicate name, and one with names differing only in case
    raw_event("d1", '"a":1,"a":2'),
    raw_event("d2", '"Amount":1,"amount":2'),
    raw_event("r1", '"event_date":"2026-11-24"'),  # the partition column
    # the job's own working names and Spark's corrupt-record column: kept as payload
    event("w1", _corrupt_record="x", __row=1, __etl_rank=2, quarantine_reason="none"),
    # numbers exactly as written; epoch milliseconds; times Parquet refuses by default
    raw_event("n1", '"amount":5,"big":123456789012345678901234567890,"precise":0.1,"z":-0'),
    event("t1", 1795536309123),
    event("old", "1850-06-01T12:00:00Z"),
    event("first", "0001-01-01T00:00:00Z", meta={}, nothing=None, empty=[]),
]
BATCH_3 = "events/year=2026/month=11/day=25/hour=11/batch-3.jsonl.gz"
BATCH_3_LINES = [BATCH_1_LINES[1]]  # exact duplicate of e2, in another gzip file
BATCH_4 = "events/year=2026/month=11/day=25/hour=12/batch-4.jsonl"
BATCH_5 = "events/year=2026/month=11/day=25/hour=13/batch-5.jsonl"

EXPECTED_DATES = {
    "e1": DAY_A,
    "e2": DAY_A,
    "e3": DAY_B,
    "e4": DAY_B,
    "e5": DAY_B,
    "w1": DAY_A,
    "n1": DAY_A,
    "t1": DAY_A,
    "old": date(1850, 6, 1),
    "first": date(1, 1, 1),
    "c1": DAY_A,
    "c2": DAY_A,
}
EXPECTED_QUARANTINE = Counter(
    {
        ("not_json", None): 2,
        ("not_utf8", None): 1,
        ("missing_field:event_id", None): 2,  # absent, or null
        ("empty_field:event_id", ""): 1,
        ("bad_type:event_id", "42"): 1,
        ("missing_field:event_type", "m2"): 1,
        ("empty_field:event_type", "m5"): 1,
        ("missing_field:event_time", "m3"): 1,
        ("bad_timestamp:event_time", "m6"): 1,
        ("bad_timestamp:event_time", "b1"): 1,
        ("bad_timestamp:event_time", "b2"): 1,
        ("bad_timestamp:event_time", "b3"): 1,
        ("bad_timestamp:ingested_at", "b4"): 1,
        ("duplicate_field", None): 2,
        ("reserved_field:event_date", "r1"): 1,
    }
)


def counts(
    read: int,
    new: int,
    duplicates: int,
    merged: int,
    replaced: int,
    quarantined: int = 0,
    files: int = 1,
    skipped: int = 0,
) -> dict[str, int]:
    """The counts of a run, in ``spark_etl.COUNT_KEYS`` order."""
    return {
        "files": files,
        "files_skipped": skipped,
        "read": read,
        "curated_new": new,
        "quarantined": quarantined,
        "duplicates_removed": duplicates,
        "merged_existing": merged,
        "replaced_existing": replaced,
        "curated": new + merged,
    }


def write_lines(root: Path, relative: str, lines: list[str | bytes]) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if relative.endswith(".gz") else data)


@dataclass(frozen=True)
class Run:
    input_path: Path
    output_path: Path
    quarantine_path: Path
    counts: dict[str, int]


@prefetch
def prepare_first_run(root: Path) -> Callable[[SparkSession], Run]:
    """The first run's input (every kind of line and file), and the run."""
    raw = root / "raw"
    write_lines(raw, BATCH_1, BATCH_1_LINES)
    write_lines(raw, BATCH_2, BATCH_2_LINES)
    write_lines(raw, BATCH_3, BATCH_3_LINES)
    write_lines(raw, BATCH_4, [NOT_UTF8])
    # CRLF line endings, and a CR between tokens: JSON whitespace, as for the transform
    crlf = (event("c1", amount=4) + "\r\n" + event("c2").replace(", ", ",\r ") + "\r\n").encode()
    (raw / BATCH_5).parent.mkdir(parents=True)
    (raw / BATCH_5).write_bytes(crlf)
    write_lines(raw, "events/_SUCCESS", ["not an input file"])
    write_lines(raw, "events/.part.crc", ["not an input file"])
    output, quarantine = root / "curated", root / "quarantine"

    def run(spark: SparkSession) -> Run:
        return Run(
            raw, output, quarantine, spark_etl.run(spark, str(raw), str(output), str(quarantine))
        )

    return run


@pytest.fixture(scope="module")
def first_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return prefetched(prepare_first_run, spark, tmp_path_factory.mktemp("etl"))


def copy_run(first: Run, root: Path) -> tuple[Path, Path]:
    output, quarantine = root / "curated", root / "quarantine"
    shutil.copytree(first.output_path, output)
    shutil.copytree(first.quarantine_path, quarantine)
    return output, quarantine


def files_of(partition: Path) -> dict[str, tuple[int, int]]:
    """Every file of a partition directory: name -> (size, modification time in ns)."""
    return {
        path.name: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in partition.iterdir()
        if path.is_file()
    }


def partition(output: Path, day: date) -> Path:
    return output / f"event_date={day.isoformat()}"


def curated_rows(spark: SparkSession, output: Path) -> dict[str, dict[str, Any]]:
    """The curated rows by event_id, timestamps as epoch milliseconds (no time zone in play).

    Partitions one run wrote share one schema and are read together; when two dates hold a
    column with different types (written by different runs), one by one.
    """
    try:
        frames = [spark.read.option("mergeSchema", "true").parquet(str(output))]
    except Exception:  # the types do not merge: read each date on its own
        frames = [spark.read.parquet(str(d)) for d in sorted(output.glob("event_date=*"))]
    rows = []
    for frame in frames:
        columns = [
            F.unix_millis(F.col(name)).alias(name)
            if name in ("event_time", "ingested_at")
            else F.col(f"`{name}`")
            for name in frame.columns
        ]
        extra = {}
        if "event_date" not in frame.columns:  # a partition directory read on its own
            path = frame.inputFiles()[0]
            extra["event_date"] = date.fromisoformat(path.split("event_date=")[1][:10])
        rows += [
            {**row.asDict(recursive=True), **extra} for row in frame.select(*columns).collect()
        ]
    by_id = {row["event_id"]: row for row in rows}
    assert len(by_id) == len(rows), "one row per event_id"
    return by_id


def millis(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


def quarantine_rows(quarantine: Path) -> list[dict[str, Any]]:
    """Every record of the quarantine output, read as written."""
    return [
        json.loads(line)
        for part in sorted(quarantine.glob("batch=*/part-*.json"))
        for line in part.read_text(encoding="utf-8").split("\n")
        if line
    ]


# --- the first run ----------------------------------------------------------------------------


def test_first_run_counts(first_run: Run) -> None:
    # 5 + 24 (not blank) + 1 + 1 + 2 lines; e1, e2, e3 twice
    assert first_run.counts == counts(
        read=33, new=12, duplicates=3, merged=0, replaced=0, quarantined=18, files=5
    )


def test_nothing_is_lost(first_run: Run, spark: SparkSession) -> None:
    result = first_run.counts
    assert (
        result["read"]
        == result["curated_new"] + result["quarantined"] + result["duplicates_removed"]
    )
    assert spark.read.parquet(str(first_run.output_path)).count() == result["curated"]
    assert len(quarantine_rows(first_run.quarantine_path)) == result["quarantined"]


def test_curated_rows(first_run: Run, spark: SparkSession) -> None:
    curated = spark.read.parquet(str(first_run.output_path))
    types = {field.name: field.dataType for field in curated.schema.fields}
    assert list(types)[:4] == ["event_id", "event_type", "event_time", "ingested_at"]
    assert types["event_time"] == types["ingested_at"] == TimestampType()
    assert types["event_date"] == DateType()
    # Amount (e1) and amount (e2, n1, ...) are one column, lower case; 12.5 makes it double
    assert types["amount"] == DoubleType()
    assert "Amount" not in types
    assert types["big"] == DecimalType(38, 0)
    assert types["user"] == StructType(
        [
            StructField("id", LongType()),
            StructField("name", StringType()),
            StructField("tags", ArrayType(StringType())),
        ]
    )
    # an object and an array that never hold anything, a field only ever null: strings
    assert types["meta"] == types["nothing"] == StringType()
    assert types["empty"] == ArrayType(StringType())
    # the payload's own fields named like the job's columns are kept as they are
    assert {"_corrupt_record", "__row", "__etl_rank", "quarantine_reason"} <= set(types)
    assert not {"year", "month", "day", "hour"} & set(types)

    rows = curated_rows(spark, first_run.output_path)
    assert {key: row["event_date"] for key, row in rows.items()} == EXPECTED_DATES
    assert rows["e1"]["amount"] == 12.5 and rows["e2"]["amount"] == 3.0
    assert rows["e3"]["amount"] == 2.0  # the retry with the later ingested_at won
    assert rows["e3"]["ingested_at"] == millis("2026-11-25T10:05:00+00:00")
    assert rows["e1"]["event_time"] == millis("2026-11-24T16:05:09.123+00:00")
    assert rows["e5"]["event_time"] == millis("2026-11-25T23:30:00+00:00")
    assert rows["t1"]["event_time"] == 1795536309123
    assert rows["old"]["event_time"] == millis("1850-06-01T12:00:00+00:00")
    assert rows["first"]["event_time"] == millis("0001-01-01T00:00:00+00:00")
    assert rows["first"]["meta"] == "{}" and rows["first"]["empty"] == []
    assert rows["e1"]["user"] == {"id": 7, "name": "Zoë", "tags": ["a", "b"]}
    assert rows["e2"]["text"] == "日本語 ✓ café"
    assert rows["e4"]["event_type"] == "view"
    assert rows["c1"]["amount"] == 4.0 and rows["c2"]["event_type"] == "click"  # CRLF file
    assert rows["n1"]["big"] == Decimal("123456789012345678901234567890")
    assert rows["n1"]["precise"] == 0.1 and rows["n1"]["z"] == 0
    assert (rows["w1"]["_corrupt_record"], rows["w1"]["__row"]) == ("x", 1)
    assert rows["w1"]["__etl_rank"] == 2 and rows["w1"]["quarantine_reason"] == "none"


def test_output_is_partitioned_by_event_date(first_run: Run) -> None:
    partitions = sorted(path.name for path in first_run.output_path.iterdir() if path.is_dir())
    assert partitions == [
        "event_date=0001-01-01",
        "event_date=1850-06-01",
        "event_date=2026-11-24",
        "event_date=2026-11-25",
    ]


def test_quarantine_rows(first_run: Run) -> None:
    rows = quarantine_rows(first_run.quarantine_path)
    assert {key for row in rows for key in row} <= set(spark_etl.QUARANTINE_COLUMNS)
    found = Counter((row["quarantine_reason"], row.get("event_id")) for row in rows)
    assert found == EXPECTED_QUARANTINE
    # every rejected line is there as it was read, with the file it came from
    written = {
        line if isinstance(line, str) else None
        for line in [*BATCH_1_LINES, *BATCH_2_LINES, *BATCH_3_LINES]
    }
    assert {row["raw_record"] for row in rows if "raw_record" in row} <= written
    [binary] = [row for row in rows if row["quarantine_reason"] == "not_utf8"]
    assert base64.b64decode(binary["raw_record_base64"]) == NOT_UTF8
    assert binary["source_file"].endswith("/batch-4.jsonl")
    assert "raw_record" not in binary
    bad = {row["event_id"]: row for row in rows if row.get("event_id") in ("b1", "b3", "b4")}
    assert bad["b1"]["event_time"] == "yesterday at noon"
    assert bad["b3"]["event_time"] == "1795536309"  # as read, as text
    assert bad["b4"]["ingested_at"] == "from the producer"


def test_the_ledger_lists_the_processed_files_and_a_second_run_skips_them(
    first_run: Run, spark: SparkSession, tmp_path: Path
) -> None:
    [entry] = (first_run.quarantine_path / "_ledger").glob("*.txt")
    listed = [json.loads(line) for line in entry.read_text().splitlines()]
    assert sorted(Path(name).name for name in listed) == [
        "batch-1.jsonl.gz",
        "batch-2.jsonl",
        "batch-3.jsonl.gz",
        "batch-4.jsonl",
        "batch-5.jsonl",
    ]
    output, quarantine = copy_run(first_run, tmp_path)
    before = {day: files_of(partition(output, day)) for day in (DAY_A, DAY_B)}
    again = spark_etl.run(spark, str(first_run.input_path), str(output), str(quarantine))
    assert again == counts(read=0, new=0, duplicates=0, merged=0, replaced=0, files=0, skipped=5)
    assert {day: files_of(partition(output, day)) for day in (DAY_A, DAY_B)} == before


@dataclass(frozen=True)
class Rerun:
    """What a run over a copy of the first run's output found before and after it."""

    counts: dict[str, int]
    rows_before: dict[str, dict[str, Any]]  # read for the retry only
    rows_after: dict[str, dict[str, Any]]
    quarantined_before: Counter[str]
    quarantined_after: Counter[str]
    day_a_files_before: dict[str, tuple[int, int]]
    day_a_files_after: dict[str, tuple[int, int]]
    amount_types: dict[date, Any]


#: The second run's input: late events, re-sends, case drift, a date an older version wrote.
SECOND_RUN_LINES = [
    # late for day B, with AMOUNT (another case) holding a string: amount becomes string in
    # day B, each number kept as its text
    event("e6", "2026-11-25T08:00:00Z", ingested_at="2026-11-27T09:00:00Z", AMOUNT="n/a"),
    event("e7", "2026-11-26T01:00:00Z"),  # a new date
    # e3 re-sent later with another payload: replaces the stored e3
    event("e3", "2026-11-25T10:00:00Z", ingested_at="2026-11-26T00:00:00Z", amount=9),
    # e4 re-sent with an older ingested_at: the stored e4 stays
    event("e4", "2026-11-25T00:00:00.000Z", event_type="stale", ingested_at="2026-11-24T00:00:00Z"),
    # into the older version's partition: its Amount and User.Id merge with these
    event("o2", "2025-12-01T10:00:00Z", amount=2.5, user={"id": 3, "tags": ["x"]}),
]


def write_older_partition(spark: SparkSession, output: Path) -> None:
    """A partition an earlier version of the job wrote: names in mixed case, a nested one."""
    spark.createDataFrame(
        [("o1", "click", 1764547200000, 5, (1, "n"))],
        "event_id string, event_type string, t long, Amount long, User struct<Id:long,Name:string>",
    ).select(
        "event_id",
        "event_type",
        F.timestamp_millis("t").alias("event_time"),
        "Amount",
        "User",
    ).write.parquet(str(partition(output, date(2025, 12, 1))))


def rerun(spark: SparkSession, first: Run, root: Path, *, retry: bool) -> Rerun:
    """Over a copy of the first run's output: with ``retry``, the first run's input again
    after its ledger entry is lost (a run that failed after writing its outputs); otherwise
    :data:`SECOND_RUN_LINES`, with a date an older version wrote added to the output."""
    output, quarantine = copy_run(first, root)
    if retry:
        shutil.rmtree(quarantine / "_ledger")
        raw = first.input_path
    else:
        write_older_partition(spark, output)
        raw = root / "raw"
        write_lines(raw, "events/year=2026/month=11/day=27/late.jsonl", SECOND_RUN_LINES)
    rows_before = curated_rows(spark, output) if retry else {}
    quarantined_before = Counter(map(json.dumps, quarantine_rows(quarantine)))
    day_a_files = files_of(partition(output, DAY_A))
    result = spark_etl.run(spark, str(raw), str(output), str(quarantine))
    return Rerun(
        counts=result,
        rows_before=rows_before,
        rows_after=curated_rows(spark, output),
        quarantined_before=quarantined_before,
        quarantined_after=Counter(map(json.dumps, quarantine_rows(quarantine))),
        day_a_files_before=day_a_files,
        day_a_files_after=files_of(partition(output, DAY_A)),
        amount_types={
            day: spark.read.parquet(str(partition(output, day))).schema["amount"].dataType
            for day in (DAY_A, DAY_B)
        },
    )


@prefetch
def prepare_reruns(root: Path) -> Callable[[SparkSession], dict[str, Rerun]]:
    """The retry and the second run, after the first run (in the warm-up thread, which runs
    the jobs in order, the first run's result is ready by then)."""

    def run(spark: SparkSession) -> dict[str, Rerun]:
        first = prefetched(prepare_first_run, spark, root / "first")
        return {
            "retry": rerun(spark, first, root / "retry", retry=True),
            "second": rerun(spark, first, root / "second", retry=False),
        }

    return run


@pytest.fixture(scope="module")
def reruns(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rerun]:
    return prefetched(prepare_reruns, spark, tmp_path_factory.mktemp("reruns"))


def test_a_retry_after_a_failure_changes_nothing(reruns: dict[str, Rerun]) -> None:
    """A run that wrote its outputs and failed before its ledger entry: the retry processes the
    same files again; the curated rows stay as they were, each rejected line is quarantined
    once (the failed run's quarantine is removed)."""
    retry = reruns["retry"]
    assert retry.counts == counts(
        read=33, new=0, duplicates=15, merged=12, replaced=0, quarantined=18, files=5
    )
    assert retry.rows_after == retry.rows_before
    assert retry.quarantined_after == retry.quarantined_before
    assert sum(retry.quarantined_after.values()) == 18


# --- a second run: late events, re-sends, drift, an older version's partition -----------------


def test_a_second_run_merges_into_the_dates_it_touches(reruns: dict[str, Rerun]) -> None:
    second = reruns["second"]
    # day B held e3, e4, e5; the older partition o1
    assert second.counts == counts(read=5, new=4, duplicates=1, merged=3, replaced=1)

    rows = second.rows_after
    assert set(rows) == {*EXPECTED_DATES, "e6", "e7", "o1", "o2"}
    assert rows["e3"]["amount"] == "9"  # day B's amount is now a string: the text as written
    assert rows["e5"]["amount"] is None
    assert rows["e6"]["amount"] == "n/a"
    assert rows["e3"]["ingested_at"] == millis("2026-11-26T00:00:00+00:00")
    assert rows["e4"]["event_type"] == "view"
    assert rows["e7"]["event_date"] == DAY_C
    # one type per column for all the dates a run writes: string, each value its text
    assert rows["o1"]["amount"] == "5" and rows["o2"]["amount"] == "2.5"
    assert rows["o1"]["user"] == {"id": 1, "name": "n", "tags": None}
    assert rows["o2"]["user"] == {"id": 3, "name": None, "tags": ["x"]}
    # day A was not even rewritten, and it keeps its own types
    assert second.day_a_files_after == second.day_a_files_before
    assert second.amount_types == {DAY_A: DoubleType(), DAY_B: StringType()}


# --- inputs with nothing to curate ------------------------------------------------------------


def test_a_missing_or_empty_input_is_a_run_with_nothing_to_do(
    spark: SparkSession, tmp_path: Path
) -> None:
    output, quarantine = tmp_path / "curated", tmp_path / "quarantine"
    nothing = counts(read=0, new=0, duplicates=0, merged=0, replaced=0, files=0)
    assert spark_etl.run(spark, str(tmp_path / "missing"), str(output), str(quarantine)) == (
        nothing
    )
    write_lines(tmp_path / "raw", "events/_SUCCESS", [])
    (tmp_path / "raw/events/empty").mkdir()
    assert spark_etl.run(spark, str(tmp_path / "raw"), str(output), str(quarantine)) == nothing
    assert not output.exists() and not quarantine.exists()


def test_main_on_an_input_where_every_line_is_malformed(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the outputs under the input path: the job never reads them back as input
    raw = tmp_path / "raw"
    output, quarantine = raw / "curated", raw / "quarantine"
    write_lines(raw, "events/bad.jsonl", ["oops", "[1]", '{"a":1,"A":2}'])
    write_lines(raw, "events/empty.jsonl.gz", [])
    arguments = [
        "--JOB_NAME",  # what Glue adds is ignored
        "etl",
        "--input-path",
        str(raw),
        "--output-path",
        str(output),
        "--quarantine_path",  # the Glue spelling works too
        str(quarantine),
        "--job-bookmark-option",
        "job-bookmark-disable",
    ]
    context = spark.sparkContext
    context.setJobGroup("every-line-malformed", "the first run")  # this thread's jobs only
    try:
        assert spark_etl.main(arguments) == 0
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    # nothing to merge: one job counts the lines, one writes the quarantine
    assert len(context.statusTracker().getJobIdsForGroup("every-line-malformed")) == 2
    expected = counts(read=3, new=0, duplicates=0, merged=0, replaced=0, quarantined=3, files=2)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == expected
    assert not output.exists()  # nothing to curate: no write
    reasons = sorted(row["quarantine_reason"] for row in quarantine_rows(quarantine))
    assert reasons == ["duplicate_field", "not_an_object", "not_json"]
    assert spark.range(1).count() == 1  # main reused the fixture's session, left it running
    assert spark_etl.main(arguments) == 0  # again: the two files are in the ledger
    again = counts(read=0, new=0, duplicates=0, merged=0, replaced=0, files=0, skipped=2)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == again


# --- one line, without Spark ------------------------------------------------------------------


def test_check_line_gives_the_normalized_event_or_the_reason() -> None:
    reason, raw_base64, *fields = spark_etl.check_line(
        bytearray(
            b'{"event_id":" e1 ","event_type":"Click","event_time":1795536309123,'
            b'"User":{"Id":1},"note":"x"}'
        )
    )
    assert (reason, raw_base64) == (None, None)
    assert fields == [
        "e1",
        "click",
        "2026-11-24T16:05:09.123Z",
        None,
        1795536309123,
        None,
        20781,  # days since 1970-01-01
        '{"note":"x","user":{"id":1}}',  # names folded and sorted
        fields[-1],
    ]
    assert json.loads(fields[-1])["fields"][1]["name"] == "user"
    assert spark_etl.check_line(b"\xff")[:2] == ("not_utf8", "/w==")
    assert spark_etl.check_line(b" \t")[0] == "empty"  # not an event: not counted
    assert spark_etl.check_line(None)[0] == "empty"
    rejected = spark_etl.check_line(b'{"event_id":7,"event_type":"t","event_time":"x"}')
    assert rejected[:4] == ("bad_type:event_id", None, "7", "t")


def test_a_defect_quarantines_the_line_instead_of_failing_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(event: Any, required: Any = None) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(spark_etl.contract, "validate_event", broken)
    assert spark_etl.check_line(b'{"event_id":"e"}')[0] == "internal_error"
    convert = spark_etl.payload_converter(StructType([StructField("n", LongType())]))
    assert convert('{"n":1}') == ((1,), None)
    assert convert('{"n":"text"}') == (None, "TypeError: a str does not fit bigint")


class _Conf:
    """A session's runtime settings, as ``SparkSession.conf`` holds them."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = dict(settings)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.settings.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.settings[key] = value

    def unset(self, key: str) -> None:
        self.settings.pop(key, None)


class _Session:
    def __init__(self, settings: dict[str, str]) -> None:
        self.conf = _Conf(settings)


def test_runs_under_way_at_once_keep_the_settings_until_the_last_one_ends() -> None:
    """Two runs on one session from two threads (the suite does this): the one that ends
    first must not take the settings away from the other, whose write would then fail on a
    timestamp before 1900 (WRITE_ANCIENT_DATETIME)."""
    key = "spark.sql.parquet.int96RebaseModeInWrite"
    own = {key: "EXCEPTION"}  # the session's own value, set before the runs
    session, other = _Session(own), _Session({})
    corrected = dict(spark_etl.SESSION_SETTINGS)
    first = spark_etl.session_settings(session)  # type: ignore[arg-type]
    second = spark_etl.session_settings(session)  # type: ignore[arg-type]
    first.__enter__()
    assert session.conf.settings == corrected
    second.__enter__()
    with spark_etl.session_settings(other):  # type: ignore[arg-type]
        assert other.conf.settings == corrected
    assert other.conf.settings == {}  # unset again: the session had none of them
    first.__exit__(None, None, None)
    assert session.conf.settings == corrected  # the second run is still under way
    second.__exit__(None, None, None)
    assert session.conf.settings == own


def test_a_failed_run_gives_the_session_its_settings_back() -> None:
    session = _Session({"spark.sql.parquet.datetimeRebaseModeInRead": "LEGACY"})
    with pytest.raises(RuntimeError), spark_etl.session_settings(session):  # type: ignore[arg-type]
        raise RuntimeError("the write failed")
    assert session.conf.settings == {"spark.sql.parquet.datetimeRebaseModeInRead": "LEGACY"}
