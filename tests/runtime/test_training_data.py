"""The data step (runtime/training_data.py): curated events -> train/validation without leaks.

On Parquet written here as the Spark job writes it (``event_date=`` directories, INT96 or
microsecond timestamps, payload columns whose types differ between dates), and once on the
Spark job's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_blueprints.runtime import training_data as td

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: SHA-256 of "u1", first 8 bytes, as a fraction of 2**64.
ENTITY_U1 = 0.7324525745899982


def write_date(
    root: Path,
    day: str,
    rows: Sequence[dict[str, Any]],
    *,
    schema: pa.Schema | None = None,
    int96: bool = True,
    name: str = "part-00000.snappy.parquet",
) -> Path:
    """One curated partition file, as the Spark job writes it."""
    directory = root / f"event_date={day}"
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(rows), schema=schema)
    path = directory / name
    pq.write_table(table, path, use_deprecated_int96_timestamps=int96)
    return path


def event(index: int, text: Any = None, label: Any = "pos", **extra: Any) -> dict[str, Any]:
    when = T0 + timedelta(hours=index)
    return {
        "event_id": f"e{index}",
        "event_type": "review",
        "event_time": when,
        "ingested_at": when + timedelta(seconds=1),
        "text": f"text number {index}" if text is None else text,
        "label": label,
        **extra,
    }


def read(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def run(tmp_path: Path, **options: Any) -> tuple[dict[str, Any], Path]:
    out = tmp_path / "out"
    summary = td.run(tmp_path / "events", out, td.Options(**options))
    return summary, out


def test_time_split_puts_the_newest_events_in_validation(tmp_path: Path) -> None:
    events = tmp_path / "events"
    labels = ["pos", "neg"]
    for day in range(5):
        write_date(
            events,
            f"2026-03-0{day + 1}",
            [event(day * 10 + i, label=labels[i % 2]) for i in range(10)],
        )
    summary, out = run(tmp_path, validation_fraction=0.2)
    train, validation = (
        read(out / "train" / "part-00000.parquet"),
        read(out / "validation" / "part-00000.parquet"),
    )
    assert (summary["read"], summary["train"], summary["validation"], summary["rejected"]) == (
        50,
        40,
        10,
        0,
    )
    cutoff = datetime.fromisoformat(summary["split"]["cutoff"])
    assert max(r["event_time"] for r in train) < cutoff <= min(r["event_time"] for r in validation)
    assert {r["event_id"] for r in validation} == {f"e{i}" for i in range(40, 50)}
    assert list(train[0]) == ["text", "label", "event_id", "event_time"]
    assert summary["labels"] == {
        "train": {"neg": 20, "pos": 20},
        "validation": {"neg": 5, "pos": 5},
    }
    assert json.loads((out / "summary.json").read_text()) == summary


def test_rows_at_the_cutoff_instant_all_go_to_validation(tmp_path: Path) -> None:
    same = T0 + timedelta(days=3)
    rows = [event(i, label="pos" if i % 2 else "neg") for i in range(6)]
    rows += [
        {**event(10 + i, label="pos" if i % 2 else "neg"), "event_time": same} for i in range(4)
    ]
    write_date(tmp_path / "events", "2026-03-01", rows)
    summary, out = run(tmp_path, validation_fraction=0.1)
    validation = read(out / "validation" / "part-00000.parquet")
    assert summary["validation"] == 4 and {r["event_time"] for r in validation} == {same}


def test_entity_split_keeps_each_entity_on_one_side(tmp_path: Path) -> None:
    rows = [event(i, label="pos" if i % 3 else "neg", user_id=f"u{i % 17}") for i in range(170)]
    write_date(tmp_path / "events", "2026-03-01", rows)
    summary, out = run(tmp_path, split="entity", entity_column="user_id", validation_fraction=0.3)
    train = read(out / "train" / "part-00000.parquet")
    validation = read(out / "validation" / "part-00000.parquet")
    train_users = {r["user_id"] for r in train}
    validation_users = {r["user_id"] for r in validation}
    assert train_users and validation_users and not train_users & validation_users
    assert validation_users == {f"u{i}" for i in range(17) if td.entity_bucket(f"u{i}") < 0.3}
    assert summary["train"] + summary["validation"] == 170
    # Stable across runs and machines (SHA-256, not Python's salted hash()).
    assert td.entity_bucket("u1") == ENTITY_U1
    assert td.entity_bucket(" u1 ") == td.entity_bucket("u1")


def test_every_row_ends_in_train_validation_or_the_rejects_with_its_reason(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events"
    write_date(
        events,
        "2026-03-01",
        [
            event(0, label="pos"),
            event(1, label="neg"),
            {**event(2), "text": None},
            event(3, text="   "),
            event(4, label=None),
            event(5, label=" "),
            {**event(6), "event_time": None},
            event(7, label="neg"),
            event(8, label="pos"),
        ],
    )
    # The same event re-sent on another date with a later ingested_at: that copy wins.
    resent = {**event(0, text="text number 0, corrected"), "event_time": T0 + timedelta(days=1)}
    resent["ingested_at"] = T0 + timedelta(days=2)
    write_date(events, "2026-03-02", [resent, event(30, label="neg"), event(31, label="pos")])
    # Newest: validation. One repeats a train text (case and spacing aside), one has a label
    # train lacks.
    write_date(
        events,
        "2026-03-03",
        [
            event(60, text="TEXT   number 7", label="neg"),
            event(61, label="other"),
            event(62, label="pos"),
            event(63, label="neg"),
        ],
    )
    summary, out = run(tmp_path, validation_fraction=0.34)
    rejects = read(out / "rejects" / "part-00000.parquet")
    by_reason = {(r["reason"], r["event_id"]) for r in rejects}
    assert by_reason == {
        ("missing_text", "e2"),
        ("missing_text", "e3"),
        ("missing_label", "e4"),
        ("bad_label", "e5"),
        ("missing_event_time", "e6"),
        ("duplicate_event", "e0"),
        ("text_also_in_train", "e60"),
        ("label_not_in_train", "e61"),
    }
    assert summary["rejected_by_reason"] == {
        "bad_label": 1,
        "duplicate_event": 1,
        "label_not_in_train": 1,
        "missing_event_time": 1,
        "missing_label": 1,
        "missing_text": 2,
        "text_also_in_train": 1,
    }
    duplicate = next(r for r in rejects if r["reason"] == "duplicate_event")
    assert duplicate["text"] == "text number 0"  # the older copy is the one rejected
    assert duplicate["source_file"] == "event_date=2026-03-01/part-00000.snappy.parquet"
    kept = read(out / "train" / "part-00000.parquet") + read(
        out / "validation" / "part-00000.parquet"
    )
    assert next(r for r in kept if r["event_id"] == "e0")["text"] == "text number 0, corrected"
    assert summary["read"] == 16 == summary["train"] + summary["validation"] + len(rejects)


def test_columns_whose_types_drift_between_dates(tmp_path: Path) -> None:
    events = tmp_path / "events"
    # A payload column the step does not read: double on one date, string on another.
    write_date(
        events, "2026-03-01", [event(i, label=["a", "b"][i % 2], amount=1.5) for i in range(4)]
    )
    write_date(
        events, "2026-03-02", [event(10 + i, label=["a", "b"][i % 2], amount="x") for i in range(4)]
    )
    # The text column as a struct on one date: not text.
    write_date(
        events,
        "2026-03-03",
        [{**event(20, label="a"), "text": {"title": "t", "body": "b"}}],
    )
    summary, out = run(tmp_path, validation_fraction=0.2)
    rejects = read(out / "rejects" / "part-00000.parquet")
    assert [(r["reason"], r["text"]) for r in rejects] == [
        ("text_not_a_string", '{"body": "b", "title": "t"}')
    ]
    assert summary["read"] == 9 and summary["train"] + summary["validation"] == 8


@pytest.mark.parametrize(
    ("labels", "as_text"),
    [([0, 1], ["0", "1"]), ([False, True], ["false", "true"]), ([" x ", "y"], ["x", "y"])],
)
def test_labels_are_kept_as_text(tmp_path: Path, labels: list[Any], as_text: list[str]) -> None:
    write_date(
        tmp_path / "events", "2026-03-01", [event(i, label=labels[i % 2]) for i in range(10)]
    )
    summary, out = run(tmp_path)
    assert set(summary["labels"]["train"]) == set(as_text)
    assert pq.read_schema(out / "train" / "part-00000.parquet").field("label").type == pa.string()


def test_timestamps_outside_the_nanosecond_range(tmp_path: Path) -> None:
    """INT96 read as nanoseconds overflows before 1677; the step reads microseconds."""
    old = datetime(1600, 1, 1, tzinfo=UTC)
    rows = [
        {**event(i, label=["a", "b"][i % 2]), "event_time": old + timedelta(days=i)}
        for i in range(10)
    ]
    write_date(tmp_path / "events", "1600-01-01", rows)
    summary, out = run(tmp_path, validation_fraction=0.2)
    assert summary["split"]["cutoff"] == "1600-01-09T00:00:00+00:00"
    assert read(out / "validation" / "part-00000.parquet")[0]["event_time"] == old + timedelta(
        days=8
    )


def test_spark_side_files_are_skipped(tmp_path: Path) -> None:
    events = tmp_path / "events"
    write_date(events, "2026-03-01", [event(i, label=["a", "b"][i % 2]) for i in range(10)])
    (events / "_SUCCESS").write_text("")
    (events / "event_date=2026-03-01" / ".part-00000.snappy.parquet.crc").write_text("x")
    temporary = events / "_temporary" / "0"
    temporary.mkdir(parents=True)
    (temporary / "part-99999.parquet").write_text("not parquet")
    summary, _ = run(tmp_path)
    assert summary["read"] == 10


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([], {}, "no Parquet files under"),
        ([event(i, label="pos") for i in range(10)], {}, "train has 1 label(s) (pos)"),
        (
            [{**event(i, label=["a", "b"][i % 2]), "event_time": T0} for i in range(10)],
            {},
            "the train set is empty",
        ),
        (
            [event(i, text="same text", label=["a", "b"][i % 2]) for i in range(10)],
            {},
            "the validation set is empty after removing rows that leak",
        ),
        ([{**event(i), "text": None} for i in range(3)], {}, "no usable rows"),
    ],
)
def test_nothing_to_learn_fails_and_writes_nothing(
    tmp_path: Path, rows: list[dict[str, Any]], options: dict[str, Any], message: str
) -> None:
    (tmp_path / "events").mkdir()
    if rows:
        write_date(tmp_path / "events", "2026-03-01", rows)
    with pytest.raises(td.NothingToLearn, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(tmp_path, **options)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": "random"}, "split must be one of time, entity"),
        ({"split": "entity"}, "a split by entity needs an entity column"),
        ({"validation_fraction": 1.0}, "between 0 and 1"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        td.Options(**options)


def test_the_command_line_as_the_processing_job_runs_it(tmp_path: Path) -> None:
    write_date(
        tmp_path / "events", "2026-03-01", [event(i, label=["a", "b"][i % 2]) for i in range(10)]
    )
    script = Path(td.__file__)
    command = [sys.executable, str(script), "--input-dir", str(tmp_path / "events")]
    ok = subprocess.run(
        [*command, "--output-dir", str(tmp_path / "out")], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"read": 10, "train": 8, "validation": 2, "rejected": 0}
    bad = subprocess.run(
        [*command, "--output-dir", str(tmp_path / "bad"), "--label-column", "missing"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == ["error: no usable rows (see the rejects and their reasons)"]
    assert not (tmp_path / "bad").exists()


def test_the_script_imports_nothing_from_the_project() -> None:
    source = Path(td.__file__).read_text()
    assert "ml_blueprints" not in source.replace("ml_blueprints/", "")


def test_on_the_spark_jobs_own_output(spark: Any, tmp_path: Path) -> None:
    """The contract between the two steps: what the Spark ETL job curates, this step reads."""
    from ml_blueprints.runtime import spark_etl

    raw = tmp_path / "raw"
    raw.mkdir()
    lines = []
    for index in range(24):
        when = T0 + timedelta(days=index // 8, hours=index % 8)
        lines.append(
            {
                "event_id": f"e{index}",
                "event_type": "review",
                "event_time": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "ingested_at": (when + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "text": f"review {index} of product {index % 5}",
                "label": ["good", "bad"][index % 2],
                "user_id": f"u{index % 6}",
                "amount": index * 1.5,
            }
        )
    lines.append({**lines[0], "label": None})  # a re-send, later, without its label
    lines[-1]["ingested_at"] = "2026-03-05T00:00:00Z"
    (raw / "events.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    curated = tmp_path / "events"
    counts = spark_etl.run(spark, str(raw), str(curated), str(tmp_path / "quarantine"))
    assert counts["curated"] == 24
    summary = td.run(
        curated,
        tmp_path / "out",
        td.Options(split="entity", entity_column="user_id", validation_fraction=0.34),
    )
    assert summary["read"] == 24
    # The re-send replaced e0 in the curated zone: no label, so it is rejected here.
    assert summary["rejected_by_reason"] == {"missing_label": 1}
    validation = read(tmp_path / "out" / "validation" / "part-00000.parquet")
    train = read(tmp_path / "out" / "train" / "part-00000.parquet")
    assert not {r["user_id"] for r in train} & {r["user_id"] for r in validation}
    assert all(r["event_time"].tzinfo is not None for r in train)
    assert sorted(r["event_id"] for r in train + validation) == sorted(
        f"e{i}" for i in range(1, 24)
    )
