"""The Spark ETL job, run for real in local mode on raw JSON Lines the tests write."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    NullType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ml_blueprints.runtime import spark_etl
from ml_blueprints.runtime.spark_etl import (
    BAD_EVENT_TIME,
    MISSING_EVENT_ID,
    MISSING_EVENT_TIME,
    MISSING_EVENT_TYPE,
    UNPARSEABLE,
    split_events,
)

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


TRUNCATED = '{"event_id": "t1", "event_type": "cl'
PLAIN_TEXT = "this is not json at all"

# Firehose-style prefixes (arrival time); they must not become columns.
BATCH_1 = "events/year=2026/month=11/day=24/hour=16/batch-1.jsonl.gz"
BATCH_1_LINES = [
    event("e1", user={"id": 7, "name": "Zoë", "tags": ["a", "b"]}, amount=12.5),
    event("e2", "2026-11-24T23:59:59.999Z", text="日本語 ✓ café", amount=3),
    event("e3", "2026-11-25T10:00:00Z", ingested_at="2026-11-25T10:00:01Z", amount=1),
    TRUNCATED,
    event("e4", "2026-11-25T00:00:00.000Z", event_type="view"),
]
BATCH_2 = "events/year=2026/month=11/day=25/hour=10/batch-2.jsonl"
BATCH_2_LINES = [
    BATCH_1_LINES[0],  # exact duplicate of e1
    # e3 retried: later ingestion, different payload; this one must win
    event("e3", "2026-11-25T10:00:00Z", ingested_at="2026-11-25T10:05:00Z", amount=2),
    PLAIN_TEXT,
    "",  # blank lines are not records
    event(..., note="no id"),
    event("m2", event_type=...),
    event("m3", event_time=...),
    event("", note="empty id"),
    event(None, note="null id"),
    event("m5", event_type="   "),
    event("m6", event_time=""),
    event("b1", event_time="yesterday at noon"),
    event("b2", event_time="2026-13-01T00:00:00Z"),
    # +01:00 offset: 2026-11-25T23:30Z in UTC, so event_date is 2026-11-25
    event("e5", "2026-11-26T00:30:00+01:00", event_type="purchase"),
]
BATCH_3 = "events/year=2026/month=11/day=25/hour=11/batch-3.jsonl.gz"
BATCH_3_LINES = [BATCH_1_LINES[1]]  # exact duplicate of e2, in another gzip file

DAY_C_TIME = "2026-11-26T01:00:00Z"
EXPECTED_DATES = {"e1": DAY_A, "e2": DAY_A, "e3": DAY_B, "e4": DAY_B, "e5": DAY_B}
EXPECTED_QUARANTINE = Counter(
    {
        (UNPARSEABLE, None): 2,
        (MISSING_EVENT_ID, None): 2,  # field absent, or null
        (MISSING_EVENT_ID, ""): 1,
        (MISSING_EVENT_TYPE, "m2"): 1,
        (MISSING_EVENT_TYPE, "m5"): 1,
        (MISSING_EVENT_TIME, "m3"): 1,
        (MISSING_EVENT_TIME, "m6"): 1,
        (BAD_EVENT_TIME, "b1"): 1,
        (BAD_EVENT_TIME, "b2"): 1,
    }
)
EXPECTED_COUNTS = {
    "read": 19,
    "curated_new": 5,
    "quarantined": 11,
    "duplicates_removed": 3,
    "merged_existing": 0,
    "replaced_existing": 0,
    "curated": 5,
}


def counts(
    read: int, new: int, duplicates: int, merged: int, replaced: int, quarantined: int = 0
) -> dict[str, int]:
    """The counts of a run, in ``spark_etl.COUNT_KEYS`` order."""
    return {
        "read": read,
        "curated_new": new,
        "quarantined": quarantined,
        "duplicates_removed": duplicates,
        "merged_existing": merged,
        "replaced_existing": replaced,
        "curated": new + merged,
    }


def write_lines(root: Path, relative: str, lines: list[str]) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if relative.endswith(".gz") else data)


@dataclass(frozen=True)
class Run:
    input_path: Path
    output_path: Path
    quarantine_path: Path
    counts: dict[str, int]


@pytest.fixture(scope="module")
def first_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("etl")
    raw = root / "raw"
    for relative, lines in ((BATCH_1, BATCH_1_LINES), (BATCH_2, BATCH_2_LINES)):
        write_lines(raw, relative, lines)
    write_lines(raw, BATCH_3, BATCH_3_LINES)
    output, quarantine = root / "curated", root / "quarantine"
    counts = spark_etl.run(spark, str(raw), str(output), str(quarantine))
    return Run(raw, output, quarantine, counts)


def copy_output(first: Run, root: Path) -> Path:
    output = root / "curated"
    shutil.copytree(first.output_path, output)
    return output


def files_of(partition: Path) -> dict[str, tuple[int, int]]:
    """Every file of a partition directory: name -> (size, modification time in ns)."""
    return {
        path.name: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in partition.iterdir()
        if path.is_file()
    }


def partition(output: Path, day: date) -> Path:
    return output / f"event_date={day.isoformat()}"


def as_dicts(rows: dict[str, Any], *keys: str) -> dict[str, dict[str, Any]]:
    return {key: rows[key].asDict(recursive=True) for key in keys}


def rows_by_id(frame: DataFrame) -> dict[str, Any]:
    rows = frame.collect()
    by_id = {row["event_id"]: row for row in rows}
    assert len(by_id) == len(rows), "one row per event_id"
    return by_id


def epoch(value: datetime) -> float:
    return value.timestamp()  # PySpark gives naive local datetimes


def utc(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def test_run_counts(first_run: Run) -> None:
    assert first_run.counts == EXPECTED_COUNTS


def test_nothing_is_lost(first_run: Run, spark: SparkSession) -> None:
    counts = first_run.counts
    assert list(counts) == list(spark_etl.COUNT_KEYS)
    assert (
        counts["read"]
        == counts["curated_new"] + counts["quarantined"] + counts["duplicates_removed"]
    )
    lines = [
        line for lines in (BATCH_1_LINES, BATCH_2_LINES, BATCH_3_LINES) for line in lines if line
    ]
    assert counts["read"] == len(lines)
    assert spark.read.parquet(str(first_run.output_path)).count() == counts["curated"]
    assert spark.read.json(str(first_run.quarantine_path)).count() == counts["quarantined"]


def test_curated_rows(first_run: Run, spark: SparkSession) -> None:
    curated = spark.read.parquet(str(first_run.output_path))
    types = {field.name: field.dataType for field in curated.schema.fields}
    assert types["event_time"] == TimestampType()
    assert types["ingested_at"] == TimestampType()
    assert types["event_date"] == DateType()
    assert types["event_id"] == StringType()
    assert isinstance(types["user"], StructType)
    assert not {"_corrupt_record", "year", "month", "day", "hour"} & set(types)
    assert not [name for name in types if name.startswith("__etl")]

    rows = rows_by_id(curated)
    assert set(rows) == set(EXPECTED_DATES)
    assert {key: row["event_date"] for key, row in rows.items()} == EXPECTED_DATES
    # the retry with the later ingested_at won
    assert rows["e3"]["amount"] == 2
    assert epoch(rows["e3"]["ingested_at"]) == utc("2026-11-25T10:05:00+00:00")
    assert epoch(rows["e1"]["event_time"]) == utc("2026-11-24T16:05:09.123+00:00")
    assert epoch(rows["e5"]["event_time"]) == utc("2026-11-25T23:30:00+00:00")
    assert rows["e1"]["user"]["name"] == "Zoë"
    assert rows["e1"]["user"]["tags"] == ["a", "b"]
    assert rows["e2"]["text"] == "日本語 ✓ café"
    assert rows["e4"]["event_type"] == "view"


def test_output_is_partitioned_by_event_date(first_run: Run) -> None:
    partitions = sorted(path.name for path in first_run.output_path.iterdir() if path.is_dir())
    assert partitions == ["event_date=2026-11-24", "event_date=2026-11-25"]
    for name in partitions:
        assert list((first_run.output_path / name).glob("*.parquet"))


def read_json_lines(directory: Path) -> list[dict[str, Any]]:
    """Every record of the JSON part files Spark wrote under ``directory``, read as written."""
    return [
        json.loads(line)
        for part in sorted(directory.glob("part-*.json"))
        for line in part.read_text(encoding="utf-8").splitlines()
        if line
    ]


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def test_quarantine_rows(first_run: Run) -> None:
    rows = read_json_lines(first_run.quarantine_path)
    assert {key for row in rows for key in row} <= set(spark_etl.QUARANTINE_COLUMNS)
    found = Counter((row["quarantine_reason"], row.get("event_id")) for row in rows)
    assert found == EXPECTED_QUARANTINE
    unparseable = {row["raw_record"] for row in rows if row["quarantine_reason"] == UNPARSEABLE}
    assert unparseable == {TRUNCATED, PLAIN_TEXT}
    # parsed rows keep their content: the original fields (null ones are not written)
    parsed = [
        json.loads(row["raw_record"]) for row in rows if row["quarantine_reason"] != UNPARSEABLE
    ]
    rejected = [
        {key: value for key, value in json.loads(line).items() if value is not None}
        for line in BATCH_2_LINES
        if line not in {"", PLAIN_TEXT, *BATCH_1_LINES}
        and json.loads(line).get("event_id") not in {"e3", "e5"}
    ]
    assert len(rejected) == 9
    assert sorted(map(canonical, parsed)) == sorted(map(canonical, rejected))
    bad = {row["event_id"]: row for row in rows if row["quarantine_reason"] == BAD_EVENT_TIME}
    assert bad["b1"]["event_time"] == "yesterday at noon"


def test_late_events_are_merged_into_their_date(
    first_run: Run, spark: SparkSession, tmp_path: Path
) -> None:
    # the next run (a bookmark run: only new files) has a late event for day B and one for C
    output = copy_output(first_run, tmp_path)
    day_a = files_of(partition(output, DAY_A))
    before = rows_by_id(spark.read.parquet(str(output)))
    raw = tmp_path / "raw"
    late = event("e6", "2026-11-25T08:00:00Z", ingested_at="2026-11-27T09:00:00Z", amount=4.5)
    write_lines(raw, "events/year=2026/month=11/day=27/late.jsonl", [late, event("e7", DAY_C_TIME)])
    result = spark_etl.run(spark, str(raw), str(output), str(tmp_path / "quarantine"))
    assert result == counts(read=2, new=2, duplicates=0, merged=3, replaced=0)

    rows = rows_by_id(spark.read.parquet(str(output)))
    assert {key: row["event_date"] for key, row in rows.items()} == {
        **EXPECTED_DATES,
        "e6": DAY_B,
        "e7": DAY_C,
    }
    # day B kept its rows as they were, day A was not even rewritten
    assert as_dicts(rows, *EXPECTED_DATES) == as_dicts(before, *EXPECTED_DATES)
    assert rows["e6"]["amount"] == 4.5
    assert files_of(partition(output, DAY_A)) == day_a


def test_a_resend_in_a_later_run_is_deduplicated(
    first_run: Run, spark: SparkSession, tmp_path: Path
) -> None:
    output = copy_output(first_run, tmp_path)
    day_a = files_of(partition(output, DAY_A))
    raw = tmp_path / "raw"
    write_lines(
        raw,
        "events/rerun.jsonl.gz",
        [
            # e3 re-sent later with another payload: replaces the stored e3; an integer where
            # day B holds doubles (the merge stores it as a double)
            event("e3", "2026-11-25T10:00:00Z", ingested_at="2026-11-26T00:00:00Z", amount=9),
            # e4 re-sent with an older ingested_at: the stored e4 stays
            event(
                "e4",
                "2026-11-25T00:00:00.000Z",
                event_type="stale",
                ingested_at="2026-11-24T00:00:00Z",
            ),
            event("e9", "2026-11-25T12:00:00Z"),
        ],
    )
    quarantine = str(tmp_path / "quarantine")
    result = spark_etl.run(spark, str(raw), str(output), quarantine)
    assert result == counts(read=3, new=2, duplicates=1, merged=2, replaced=1)

    rows = rows_by_id(spark.read.parquet(str(output)))
    assert {key: row["event_date"] for key, row in rows.items()} == {**EXPECTED_DATES, "e9": DAY_B}
    assert rows["e3"]["amount"] == 9.0
    assert epoch(rows["e3"]["ingested_at"]) == utc("2026-11-26T00:00:00+00:00")
    assert rows["e4"]["event_type"] == "view"
    assert epoch(rows["e4"]["ingested_at"]) == utc("2026-11-24T16:05:10+00:00")
    assert files_of(partition(output, DAY_A)) == day_a

    # running the same input again changes nothing: every row of it is already there
    again = spark_etl.run(spark, str(raw), str(output), quarantine)
    assert again == counts(read=3, new=0, duplicates=3, merged=4, replaced=0)
    after = rows_by_id(spark.read.parquet(str(output)))
    assert as_dicts(after, *rows) == as_dicts(rows, *rows)


def test_payload_type_drift_is_reconciled(spark: SparkSession, tmp_path: Path) -> None:
    output, quarantine = str(tmp_path / "curated"), str(tmp_path / "quarantine")

    def run(name: str, *lines: str) -> dict[str, int]:
        write_lines(tmp_path / name, "events/part.jsonl", list(lines))
        return spark_etl.run(spark, str(tmp_path / name), output, quarantine)

    day_b = "2026-11-25T09:00:00Z"
    # run 1: day A, integers (bigint), a struct, an array of integers
    run(
        "run1",
        event("a1", amount=1, code=7, meta={"n": 1}, tags=[1, 2], detail={"k": 1}, legacy="x"),
        event("a2", amount=2, code=8),
    )
    # run 2: a new date, day B, with doubles (day A still holds bigints: not merged yet)
    run("run2", event("b1", day_b, amount=2.5, code=9))
    # run 3 touches both: decimals, a string where numbers were, a wider struct, strings in
    # the array, a string where a struct was, a new column; a2 re-sent with a new payload
    result = run(
        "run3",
        event(
            "a3",
            amount=0.5,
            code="X7",
            meta={"n": 1.5, "tag": "t"},
            tags=["u"],
            detail="plain",
        ),
        event("b2", day_b, amount=3.25, extra=True),
        event("a2", ingested_at="2026-11-25T00:00:00Z", amount=2.75),
    )
    assert result == counts(read=3, new=3, duplicates=0, merged=2, replaced=1)

    curated = spark.read.parquet(output)  # the whole output reads back
    types = {field.name: field.dataType for field in curated.schema.fields}
    assert types["amount"] == DoubleType()
    assert types["code"] == StringType()
    assert types["detail"] == StringType()
    assert types["meta"] == StructType(
        [StructField("n", DoubleType()), StructField("tag", StringType())]
    )
    assert types["tags"] == ArrayType(StringType())
    assert types["extra"] == BooleanType()
    rows = as_dicts(rows_by_id(curated), "a1", "a2", "a3", "b1", "b2")
    picked = ("amount", "code", "meta", "tags", "detail", "legacy", "extra", "event_date")
    assert {key: tuple(row[name] for name in picked) for key, row in rows.items()} == {
        "a1": (1.0, "7", {"n": 1.0, "tag": None}, ["1", "2"], '{"k":1}', "x", None, DAY_A),
        "a2": (2.75, None, None, None, None, None, None, DAY_A),
        "a3": (0.5, "X7", {"n": 1.5, "tag": "t"}, ["u"], "plain", None, None, DAY_A),
        "b1": (2.5, "9", None, None, None, None, None, DAY_B),
        "b2": (3.25, None, None, None, None, None, True, DAY_B),
    }


def test_common_type() -> None:
    struct = StructType([StructField("n", LongType())])
    wider = StructType([StructField("n", DoubleType()), StructField("tag", StringType())])
    cases: list[tuple[DataType, DataType, DataType]] = [
        (LongType(), LongType(), LongType()),
        (IntegerType(), LongType(), LongType()),
        (LongType(), DoubleType(), DoubleType()),
        (NullType(), LongType(), LongType()),
        (LongType(), StringType(), StringType()),
        (BooleanType(), LongType(), StringType()),
        (struct, wider, wider),
        (struct, StringType(), StringType()),
        (ArrayType(LongType()), ArrayType(StringType()), ArrayType(StringType())),
    ]
    for left, right, expected in cases:
        assert spark_etl.common_type(left, right) == expected, (left, right)
        assert spark_etl.common_type(right, left) == expected, (right, left)


def test_split_events_when_every_line_parses(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [
            ("a", "click", "2026-11-24T23:30:00Z", "2026-11-24T23:30:01Z", "first"),
            ("a", "click", "2026-11-24T23:30:00Z", "2026-11-24T23:30:01Z", "second"),
            ("b", "click", "2026-11-24T23:30:00", None, "older"),  # no offset: UTC
            ("b", "click", "2026-11-24T23:30:00", "2026-11-24T23:30:01Z", "newer"),
            ("c", "click", "2026-11-24", None, "date only"),
        ],
        "event_id string, event_type string, event_time string, ingested_at string, p string",
    )
    assert "_corrupt_record" not in raw.columns
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Pacific/Kiritimati")  # UTC+14
    try:
        curated, quarantined = split_events(raw)
        rows = rows_by_id(curated)
        reasons = [(row["quarantine_reason"], row["event_id"]) for row in quarantined.collect()]
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert {key: row["event_date"] for key, row in rows.items()} == {"a": DAY_A, "b": DAY_A}
    assert rows["a"]["p"] == "second"  # tie on ingested_at: greatest serialized row wins
    assert rows["b"]["p"] == "newer"  # a missing ingested_at loses
    assert epoch(rows["b"]["event_time"]) == utc("2026-11-24T23:30:00+00:00")
    assert reasons == [(BAD_EVENT_TIME, "c")]


def test_split_events_when_a_column_is_absent(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [("a", "2026-11-24T10:00:00Z", None), ("b", "2026-11-24T10:00:00Z", '{"x')],
        "event_id string, event_time string, _corrupt_record string",
    )
    curated, quarantined = split_events(raw)
    assert curated.count() == 0
    assert {"event_type", "event_time", "ingested_at", "event_date"} <= set(curated.columns)
    rows = sorted(quarantined.collect(), key=lambda row: row["quarantine_reason"])
    assert [(row["quarantine_reason"], row["event_id"]) for row in rows] == [
        (MISSING_EVENT_TYPE, "a"),
        (UNPARSEABLE, None),
    ]
    assert rows[1]["raw_record"] == '{"x'


def test_errors_as_quarantine(spark: SparkSession) -> None:
    errors = spark.createDataFrame([("bad line", 3)], "line string, n int")
    (row,) = spark_etl.errors_as_quarantine(errors).collect()
    assert row["quarantine_reason"] == UNPARSEABLE
    assert json.loads(row["raw_record"]) == {"line": "bad line", "n": 3}
    assert list(row.asDict()) == list(spark_etl.QUARANTINE_COLUMNS)


def test_main_with_argparse_arguments(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, output, quarantine = tmp_path / "raw", tmp_path / "out", tmp_path / "quarantine"
    write_lines(raw, "part-0.jsonl.gz", [event("x1"), event("x1"), "oops"])
    code = spark_etl.main(
        [
            "--input-path",
            str(raw),
            "--output-path",
            str(output),
            "--quarantine_path",  # the Glue spelling works too
            str(quarantine),
        ]
    )
    assert code == 0
    expected = counts(read=3, new=1, duplicates=1, merged=0, replaced=0, quarantined=1)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == expected
    assert (output / "event_date=2026-11-24").is_dir()
    assert spark.read.json(str(quarantine)).first()["raw_record"] == "oops"
    # main reused the fixture's session and left it running
    assert spark.range(1).count() == 1
