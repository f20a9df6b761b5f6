"""Properties of the Spark job over generated inputs, checked against the event contract.

Hypothesis generates :data:`EXAMPLES` inputs (each a list of raw lines: events, mostly valid
ones, broken ones, garbage, blank lines). A Spark run costs seconds, so all inputs share one
raw zone, spread over :data:`FILES` files, with a prefix in their event ids so that their events
never meet, and one run processes them all; each file is then checked line by line against
the contract. Beside them, as many files hold what the Firehose transform made of the same
lines (its ``Ok`` records).

For every input file:

- every line that is not blank is either curated or quarantined, never both, never neither:
  the quarantine holds exactly the lines the contract rejects, each once, with the contract's
  reason and its bytes as read; every event the contract accepts has one curated row for its
  event id (``curated + quarantined + duplicates == read``, also in the run's counts);
- no payload value is lost: each curated row holds every field of the event that won its id
  (latest ``ingested_at``), names folded, each value exactly (numbers as written, or their
  nearest double in a ``double`` column, or their text in a ``string`` one);
- what the transform accepts, the job curates (none of its output is quarantined), and what it
  rejects, the contract rejects with the same reason;
- a second run over the same input changes nothing: with the ledger it reads nothing, and
  without its entry (a retry after a failure) it rewrites the same curated rows and the same
  quarantine.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DecimalType,
    DoubleType,
    LongType,
    StringType,
    StructType,
)

from ml_blueprints.runtime import event_contract as contract
from ml_blueprints.runtime import spark_etl
from ml_blueprints.runtime.firehose_transform import transform_record
from tests.runtime import strategies
from tests.runtime.conftest import prefetch, prefetched

#: How many generated inputs the Spark run processes (see the module docstring).
EXAMPLES = 80
#: Input files of each kind (raw lines, the transform's output) the examples are spread over.
FILES = 8
ARRIVAL_MS = 1795536309456


def collect_examples(count: int) -> list[list[strategies.Line]]:
    """``count`` inputs drawn by Hypothesis (deterministic: the same on every run, so the
    suite stays within its time and a failure reproduces)."""
    found: list[list[strategies.Line]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(st.one_of(strategies.lines, strategies.events(valid_bias=True)), max_size=6))
    def collect(lines: list[strategies.Line]) -> None:
        found.append(lines)

    collect()
    return found


def folded_payload(event: dict[str, Any]) -> dict[str, Any]:
    keys = {*contract.REQUIRED_FIELDS, contract.INGESTED_AT}
    return {contract.fold(k): _folded(v) for k, v in event.items() if k not in keys}


def _folded(value: Any) -> Any:
    if isinstance(value, dict):
        return {contract.fold(k): _folded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_folded(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """A parsed tree in a form that compares exactly: numbers by text, objects by names."""
    if isinstance(value, contract.JsonNumber):
        return ("number", value.text)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def stored_as(expected: Any, stored: Any, data_type: DataType) -> bool:
    """Whether ``stored`` (read back from Parquet) holds ``expected`` (a parsed value, names
    folded) exactly, in a column of ``data_type``."""
    if expected is None:
        return stored is None
    if isinstance(data_type, StringType):
        if isinstance(expected, str):
            return stored == expected
        text = '{"v":' + stored + "}"  # the value's JSON text, numbers as written
        return _plain(_folded(contract.parse_event(text.encode())["v"])) == _plain(expected)
    if isinstance(expected, contract.JsonNumber):
        if isinstance(data_type, LongType):
            return expected.is_integer and stored == expected.value
        if isinstance(data_type, DecimalType):
            return expected.is_integer and stored == Decimal(expected.text)
        if isinstance(data_type, DoubleType):
            return stored == float(expected.text)  # the nearest double
        return False
    if isinstance(data_type, BooleanType):
        return stored is expected
    if isinstance(data_type, ArrayType):
        return (
            isinstance(expected, list)
            and len(stored) == len(expected)
            and all(
                stored_as(e, s, data_type.elementType)
                for e, s in zip(expected, stored, strict=True)
            )
        )
    if isinstance(data_type, StructType):
        names = set(data_type.fieldNames())
        return (
            isinstance(expected, dict)
            and set(expected) <= names
            and all(stored_as(expected.get(f.name), stored[f.name], f.dataType) for f in data_type)
        )
    return False


def matches(event: dict[str, Any], row: dict[str, Any], types: dict[str, DataType]) -> bool:
    """Whether a curated row holds the (normalized) event, every payload value exactly."""
    event_time = contract.timestamp_millis(event["event_time"])
    ingested = event.get("ingested_at")
    if (
        row["event_type"] != event["event_type"]
        or row["event_time"] != event_time
        or row["ingested_at"] != (None if ingested is None else contract.timestamp_millis(ingested))
        or row["event_day"] != event_time // 86_400_000
    ):
        return False
    payload = folded_payload(event)
    if not set(payload) <= set(types):
        return False  # a field dropped
    return all(stored_as(payload.get(name), row[name], types[name]) for name in types)


class Oracle:
    """What the contract says the job must make of one input's lines."""

    def __init__(self, lines: list[bytes]) -> None:
        self.read = 0
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for data in lines:
            if contract.is_empty(data):
                continue
            self.read += 1
            try:
                checked = contract.check_event(data)
            except contract.Rejected as rejected:
                self.rejected[(rejected.reason, _raw_key(data))] += 1
            else:
                self.by_id[checked["event_id"]].append(checked)

    @property
    def valid(self) -> int:
        return sum(map(len, self.by_id.values()))

    def winners(self, event_id: str) -> list[dict[str, Any]]:
        """The events that may win their id: the latest ``ingested_at`` (ties broken by the
        job's own order, which the contract does not define)."""
        candidates = self.by_id[event_id]

        def key(event: dict[str, Any]) -> int:
            ingested = event.get("ingested_at")
            return -(2**63) if ingested is None else contract.timestamp_millis(ingested)

        latest = max(map(key, candidates))
        return [event for event in candidates if key(event) == latest]


def _raw_key(data: bytes) -> str:
    try:
        return "text:" + data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


def write_file(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def read_curated(spark: SparkSession, output: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(rows by event id, column types): timestamps as epoch milliseconds, the date as days
    since 1970-01-01. Every partition here was written by one run, with one schema, so the
    output reads as a whole."""
    frame = spark.read.parquet(str(output))
    keys = {"event_id", "event_type", "event_time", "ingested_at", "event_date"}
    types = {field.name: field.dataType for field in frame.schema if field.name not in keys}
    columns = [
        F.unix_millis(F.col(name)).alias(name)
        if name in ("event_time", "ingested_at")
        else F.unix_date(F.col(name)).alias("event_day")
        if name == "event_date"
        else F.col("`" + name.replace("`", "``") + "`")
        for name in frame.columns
    ]
    rows: dict[str, Any] = {}
    for row in frame.select(*columns).collect():
        values = row.asDict(recursive=True)
        assert values["event_id"] not in rows, "one row per event_id"
        rows[values["event_id"]] = values
    return rows, types


def read_quarantine(quarantine: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for part in sorted(quarantine.glob("batch=*/part-*.json"))
        for line in part.read_text(encoding="utf-8").split("\n")
        if line
    ]


def _quarantine_key(row: dict[str, Any]) -> tuple[str, str]:
    if "raw_record_base64" in row:
        return row["quarantine_reason"], "base64:" + row["raw_record_base64"]
    return row["quarantine_reason"], "text:" + row["raw_record"]


@pytest.fixture(scope="module")
def generated(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return prefetched(prepare_generated_runs, spark, tmp_path_factory.mktemp("properties"))


@prefetch
def prepare_generated_runs(root: Path) -> Callable[[SparkSession], dict[str, Any]]:
    """Draw the inputs and write them (and the transform's output of them); the job then
    runs three times (first, again with the ledger, again without it) and returns what to
    check. Hypothesis draws here, in the main thread; only the Spark part may run in the
    warm-up thread."""
    started = time.perf_counter()
    examples = collect_examples(EXAMPLES)
    timings = {"generate": time.perf_counter() - started}
    raw = root / "raw"
    inputs: dict[str, list[bytes]] = {}
    transform_verdicts: list[tuple[bytes, str | None]] = []
    for n, lines in enumerate(examples):
        # FILES files of each kind (each Spark reads costs per file): examples share them
        name = f"events/x/{n % FILES:02d}.jsonl" + (".gz" if n % FILES % 2 else "")
        inputs.setdefault(name, []).extend(line.render(f"x{n}-") for line in lines)
        # the same lines through the transform, with their own prefix
        accepted = []
        for line in lines:
            data = line.render(f"t{n}-")
            try:
                out = transform_record(data, ARRIVAL_MS, contract.REQUIRED_FIELDS)
            except contract.Rejected as rejected:
                transform_verdicts.append((data, rejected.reason))
            else:
                transform_verdicts.append((data, None))
                accepted.append(out.rstrip(b"\n"))
        inputs.setdefault(f"events/t/{n % FILES:02d}.jsonl", []).extend(accepted)
    for name, rendered in inputs.items():
        write_file(raw / name, rendered)
    output, quarantine = root / "curated", root / "quarantine"
    timings["write"] = time.perf_counter() - started

    def run(spark: SparkSession) -> dict[str, Any]:
        started = time.perf_counter()
        first = spark_etl.run(spark, str(raw), str(output), str(quarantine))
        timings["first run"] = time.perf_counter() - started
        curated, types = read_curated(spark, output)
        quarantined = read_quarantine(quarantine)
        timings["read"] = time.perf_counter() - started
        skipped = spark_etl.run(spark, str(raw), str(output), str(quarantine))
        timings["ledger run"] = time.perf_counter() - started
        shutil.rmtree(quarantine / spark_etl.LEDGER_DIRECTORY)  # as if the run failed before it
        retried = spark_etl.run(spark, str(raw), str(output), str(quarantine))
        timings["retry"] = time.perf_counter() - started
        after_retry = (read_curated(spark, output), read_quarantine(quarantine))
        timings["read again"] = time.perf_counter() - started
        return {
            "timings": timings,
            "examples": len(examples),
            "inputs": inputs,
            "transform_verdicts": transform_verdicts,
            "counts": (first, skipped, retried),
            "curated": curated,
            "types": types,
            "quarantined": quarantined,
            "after_retry": after_retry,
        }

    return run


def test_property_every_line_is_curated_or_quarantined_and_no_value_is_lost(
    generated: dict[str, Any],
) -> None:
    curated, types = generated["curated"], generated["types"]
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in generated["quarantined"]:
        by_file["events/" + row["source_file"].rsplit("/events/", 1)[1]].append(row)
    totals = Counter()
    for name, lines in generated["inputs"].items():
        oracle = Oracle(lines)
        totals["read"] += oracle.read
        totals["valid"] += oracle.valid
        totals["ids"] += len(oracle.by_id)
        totals["quarantined"] += sum(oracle.rejected.values())
        found = Counter(_quarantine_key(row) for row in by_file.get(name, []))
        assert found == oracle.rejected, name
        if name.startswith("events/t/"):
            assert not oracle.rejected, f"the job quarantined what the transform accepted: {name}"
        for event_id in oracle.by_id:
            row = curated.get(event_id)
            assert row is not None, f"{name}: {event_id!r} not curated"
            assert any(matches(e, row, types) for e in oracle.winners(event_id)), (
                f"{name}: {event_id!r} stored as {row}, expected one of {oracle.winners(event_id)}"
            )
    first = generated["counts"][0]
    assert first["read"] == totals["read"]
    assert first["quarantined"] == totals["quarantined"]
    assert first["curated_new"] == totals["ids"] == len(curated)
    assert first["duplicates_removed"] == totals["valid"] - totals["ids"]
    assert (
        first["read"] == first["curated_new"] + first["quarantined"] + first["duplicates_removed"]
    )
    assert first["files"] == len(generated["inputs"]) and first["files_skipped"] == 0


def test_property_what_the_transform_accepts_the_contract_accepts(
    generated: dict[str, Any],
) -> None:
    """The transform's verdict on each generated line is the contract's: the Spark job (checked
    above against the contract) quarantines exactly what the transform rejects."""
    for data, reason in generated["transform_verdicts"]:
        try:
            contract.check_event(data)
        except contract.Rejected as rejected:
            assert reason == rejected.reason, data
        else:
            assert reason is None, data


def test_property_a_second_run_over_the_same_input_changes_nothing(
    generated: dict[str, Any],
) -> None:
    first, skipped, retried = generated["counts"]
    assert skipped == {**dict.fromkeys(spark_etl.COUNT_KEYS, 0), "files_skipped": first["files"]}
    assert retried == {
        **first,
        "curated_new": 0,
        "duplicates_removed": first["read"] - first["quarantined"],
        "merged_existing": first["curated"],
        "curated": first["curated"],
    }
    (curated, types), quarantined = generated["after_retry"]
    assert curated == generated["curated"]
    assert types == generated["types"]
    assert Counter(map(_quarantine_key, quarantined)) == Counter(
        map(_quarantine_key, generated["quarantined"])
    )


def test_the_generated_inputs_cover_the_rules(generated: dict[str, Any]) -> None:
    """The generated inputs exercise what the properties are about (not a property: a guard
    that the strategies keep producing valid events, every kind of rejection and drift)."""
    reasons = Counter()
    for name, lines in generated["inputs"].items():
        if name.startswith("events/x/"):
            oracle = Oracle(lines)
            reasons["read"] += oracle.read
            reasons["valid"] += oracle.valid
            reasons.update(reason.split(":")[0] for reason, _ in oracle.rejected.elements())
    assert generated["examples"] == EXAMPLES
    assert reasons["valid"] >= reasons["read"] // 3
    for reason in ("not_json", "not_utf8", "duplicate_field", "bad_timestamp", "missing_field"):
        assert reasons[reason] > 0, reason
    assert StringType() in generated["types"].values()
