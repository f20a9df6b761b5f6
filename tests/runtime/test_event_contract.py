"""The event contract: each rule with the input that breaks it, and properties over generated
events (what the parser keeps, what normalizing does twice)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_blueprints.runtime import event_contract as contract
from ml_blueprints.runtime.event_contract import JsonNumber, Rejected, check_event
from tests.runtime import strategies

GOOD = b'{"event_id":"e1","event_type":"click","event_time":"2026-11-24T16:05:09.123Z"'


def event(extra: str = "", **fields: Any) -> bytes:
    """A good event's JSON with ``fields`` replaced (``...`` leaves one out) and ``extra``
    (raw JSON members) appended."""
    base: dict[str, Any] = {
        "event_id": "e1",
        "event_type": "click",
        "event_time": "2026-11-24T16:05:09.123Z",
    }
    base.update(fields)
    members = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in base.items() if v is not ...]
    if extra:
        members.append(extra)
    return ("{" + ",".join(members) + "}").encode()


def reason_of(data: bytes, required: tuple[str, ...] = contract.REQUIRED_FIELDS) -> str:
    with pytest.raises(Rejected) as caught:
        check_event(data, required)
    return caught.value.reason


REJECTIONS = [
    (b"\xff\xfe{}", "not_utf8"),
    (b'{"event_id": "caf\xe9"}', "not_utf8"),  # Latin-1
    (event('"note":"\\ud800"'), "not_utf8"),  # a lone surrogate, escaped
    (event('"\\udc00":1'), "not_utf8"),  # ... in a name
    (b"", "empty"),
    (b" \t\r\n ", "empty"),
    (b"{event_id: 1}", "not_json"),
    (b'{"a": 1} {"b": 2}', "not_json"),
    (event('"x":NaN'), "not_json"),
    (event('"x":-Infinity'), "not_json"),
    (b"\xef\xbb\xbf{}", "not_json"),  # a byte-order mark
    (b"\xc2\xa0{}", "not_json"),  # a no-break space is not JSON whitespace
    (b"[" * 5000 + b"]" * 5000, "not_json"),  # deeper than the parser goes
    (event('"a":1,"a":2'), "duplicate_field"),
    (event('"Amount":1,"amount":2'), "duplicate_field"),
    (event('"user":{"Id":1,"id":2}'), "duplicate_field"),  # at any depth
    (event('"list":[{"x":1,"X":2}]'), "duplicate_field"),
    (event('"EVENT_ID":"e2"'), "duplicate_field"),
    (event('"x":1e400'), "bad_number"),
    (event('"x":-1e400'), "bad_number"),
    (event('"x":' + "9" * 39), "bad_number"),
    (event('"x":-' + "9" * 39), "bad_number"),
    (event('"x":' + "[" * 64 + "]" * 64), "too_deep"),  # 65 levels with the event
    (b"[]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b"null", "not_an_object"),
    (event(event_id=...), "missing_field:event_id"),
    (event(event_id=None), "missing_field:event_id"),
    (event(event_type=...), "missing_field:event_type"),
    (event(event_time=None), "missing_field:event_time"),
    (event(event_id=123), "bad_type:event_id"),
    (event(event_type=["click"]), "bad_type:event_type"),
    (event(event_id=" \t\u3000 "), "empty_field:event_id"),
    (event(event_type=""), "empty_field:event_type"),
    (event(event_time=1795536309.5), "bad_type:event_time"),
    (event(event_time=True), "bad_type:event_time"),
    (event(event_time={"ms": 1}), "bad_type:event_time"),
    (event(event_time="yesterday"), "bad_timestamp:event_time"),
    (event(event_time="2026-11-24"), "bad_timestamp:event_time"),
    (event(event_time="2026-13-01T00:00:00Z"), "bad_timestamp:event_time"),
    (event(event_time="2026-02-30T00:00:00Z"), "bad_timestamp:event_time"),
    (event(event_time="2026-11-24T24:00:00Z"), "bad_timestamp:event_time"),
    (event(event_time="2026-11-24T16:05:60Z"), "bad_timestamp:event_time"),
    (event(event_time="2026-11-24T16:05:09+24:00"), "bad_timestamp:event_time"),
    (event(event_time="2026-11-24T16:05:09+01:60"), "bad_timestamp:event_time"),
    (event(event_time=""), "bad_timestamp:event_time"),
    (event(event_time="0001-01-01T00:30:00+01:00"), "bad_timestamp:event_time"),
    (event(event_time="9999-12-31T23:30:00-01:00"), "bad_timestamp:event_time"),
    # integers are epoch milliseconds from 1973-03-03 on: epoch seconds are not read as 1970
    (event(event_time=1795536309), "bad_timestamp:event_time"),
    (event(event_time=99_999_999_999), "bad_timestamp:event_time"),
    (event(event_time=0), "bad_timestamp:event_time"),
    (event(event_time=-1), "bad_timestamp:event_time"),
    (event(event_time=253_402_300_800_000), "bad_timestamp:event_time"),  # year 10000
    (event(event_time=1_795_536_309_123_000), "bad_timestamp:event_time"),  # microseconds
    (event(ingested_at="soon"), "bad_timestamp:ingested_at"),
    (event(ingested_at=1795536309), "bad_timestamp:ingested_at"),
    (event(ingested_at=[]), "bad_type:ingested_at"),
    (event(event_date="2026-11-24"), "reserved_field:event_date"),
    (event(Event_Date=1), "reserved_field:event_date"),
    (event(Ingested_At="2026-11-24T16:05:09Z"), "reserved_field:ingested_at"),
]


@pytest.mark.parametrize(("data", "reason"), REJECTIONS)
def test_each_rule_rejects_with_its_reason(data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


def test_parsing_reports_the_first_problem_it_meets() -> None:
    # a number as it is read, a repeated name when its object ends
    assert reason_of(b'{"a":1,"a":1e400}') == "bad_number"
    assert reason_of(b'{"a":{"b":1,"b":2},"c":1e400}') == "duplicate_field"
    assert reason_of(b'{"a":1,"A":2,') == "not_json"
    assert reason_of(event(event_id=None, event_type=None)) == "missing_field:event_id"
    assert reason_of(event(event_type=1, event_time="x")) == "bad_type:event_type"


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        ("2026-11-24T18:05:09.123+02:00", "2026-11-24T16:05:09.123Z"),
        ("2026-11-24T10:35:09.123-05:30", "2026-11-24T16:05:09.123Z"),
        ("2026-11-24T18:05:09+0200", "2026-11-24T16:05:09.000Z"),
        ("2026-11-24T18:05:09+02", "2026-11-24T16:05:09.000Z"),
        ("2026-11-24T23:30:00-01:00", "2026-11-25T00:30:00.000Z"),  # crosses midnight
        ("2026-11-24t16:05:09z", "2026-11-24T16:05:09.000Z"),
        ("2026-11-24T16:05:09", "2026-11-24T16:05:09.000Z"),  # naive is UTC
        ("2026-11-24 16:05:09,5", "2026-11-24T16:05:09.500Z"),
        ("2026-11-24T16:05", "2026-11-24T16:05:00.000Z"),
        ("2026-11-24T16:05:09.999999999Z", "2026-11-24T16:05:09.999Z"),  # truncated
        (" 2026-11-24T16:05:09Z\t", "2026-11-24T16:05:09.000Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("1899-12-31T23:59:59.999Z", "1899-12-31T23:59:59.999Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        (1795536309123, "2026-11-24T16:05:09.123Z"),
        (100_000_000_000, "1973-03-03T09:46:40.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_timestamps_are_normalized_to_utc_milliseconds(event_time: Any, expected: str) -> None:
    checked = check_event(event(event_time=event_time, ingested_at=event_time))
    assert checked["event_time"] == checked["ingested_at"] == expected
    assert contract.epoch_millis_to_iso(contract.timestamp_millis(expected)) == expected


def test_key_fields_are_normalized_and_everything_else_kept_as_written() -> None:
    data = (
        b'{"note":"caf\\u00e9 \\"q\\" \xe6\x97\xa5","event_type":" Page_View ",'
        b'"n":12345678901234567.89,"event_id":"\xe3\x80\x80e1 ","f":0.10000000000000000001,'
        b'"z":-0,"e":1E5,"big":123456789012345678901234567890,"deep":{"a":[1.50,null,true]},'
        b'"event_time":"2026-11-24T18:05:09.123456+02:00","flag":false,"nothing":null}'
    )
    checked = check_event(data)
    assert list(checked) == [
        "note",
        "event_type",
        "n",
        "event_id",
        "f",
        "z",
        "e",
        "big",
        "deep",
        "event_time",
        "flag",
        "nothing",
    ]
    assert contract.dumps(checked) == (
        '{"note":"café \\"q\\" 日","event_type":"page_view","n":12345678901234567.89,'
        '"event_id":"e1","f":0.10000000000000000001,"z":-0,"e":1E5,'
        '"big":123456789012345678901234567890,"deep":{"a":[1.50,null,true]},'
        '"event_time":"2026-11-24T16:05:09.123Z","flag":false,"nothing":null}'
    )
    assert checked["n"] == JsonNumber("12345678901234567.89", 0.0)  # equal by text
    assert checked["big"].value == 123456789012345678901234567890


def test_custom_required_fields_check_only_those() -> None:
    relaxed = event(event_type=..., event_time="soon", user_id="u-1")
    checked = check_event(relaxed, ("event_id", "user_id"))
    assert checked["event_time"] == "soon"  # not required: kept as it is
    assert reason_of(event(), ("event_id", "user_id")) == "missing_field:user_id"
    # the reserved names and ingested_at apply whatever is required
    assert reason_of(event(event_date=1), ("event_id",)) == "reserved_field:event_date"
    assert reason_of(event(ingested_at="x"), ("event_id",)) == "bad_timestamp:ingested_at"


def test_a_null_ingested_at_is_no_ingested_at() -> None:
    assert check_event(event(ingested_at=None))["ingested_at"] is None


def test_dumps_writes_what_json_reads() -> None:
    value = {"a": [1, "x\u2028\n\t\x00", None, True, False, {"b": JsonNumber("1.0e2", 100.0)}]}
    text = contract.dumps(value)
    assert json.loads(text) == {"a": [1, "x\u2028\n\t\x00", None, True, False, {"b": 100.0}]}
    assert text == '{"a":[1,"x\u2028\\n\\t\\u0000",null,true,false,{"b":1.0e2}]}'
    with pytest.raises(TypeError):
        contract.dumps({"a": Decimal(1)})


# --- properties -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A parsed tree with numbers as their text, to compare trees exactly."""
    if isinstance(value, JsonNumber):
        return ("number", value.text)
    if isinstance(value, dict):
        return [(name, _plain(item)) for name, item in value.items()]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _expected(value: Any) -> Any:
    if isinstance(value, strategies.Num):
        return ("number", value.text)
    if isinstance(value, strategies.Obj):
        return [(name, _expected(item)) for name, item in value.pairs]
    if isinstance(value, list):
        return [_expected(item) for item in value]
    return value


@settings(max_examples=200)
@given(line=strategies.lines)
def test_property_checking_is_total_and_normalizing_twice_changes_nothing(
    line: strategies.Line,
) -> None:
    """Whatever the bytes, the check either accepts or rejects with a known reason; an accepted
    event written out and checked again is the same event (the Spark job checks the
    transform's output again), and its fields other than the key fields are kept exactly."""
    data = line.render("p-")
    try:
        checked = check_event(data)
    except Rejected as rejected:
        assert rejected.reason.split(":")[0] in {
            "not_utf8",
            "empty",
            "not_json",
            "duplicate_field",
            "bad_number",
            "too_deep",
            "not_an_object",
            "missing_field",
            "bad_type",
            "empty_field",
            "bad_timestamp",
            "reserved_field",
        }
        return
    again = check_event(contract.dumps(checked).encode("utf-8"))
    assert _plain(again) == _plain(checked)
    keys = {*contract.REQUIRED_FIELDS, contract.INGESTED_AT}
    written = [(name, _expected(value)) for name, value in line.fields if name not in keys]
    assert [(k, _plain(v)) for k, v in checked.items() if k not in keys] == written


@settings(max_examples=200)
@given(value=strategies.json_values)
def test_property_payload_values_round_trip_exactly(value: Any) -> None:
    """Any payload value the contract accepts is written back with the same text per number
    and the same structure (the transform keeps non-key fields as they are)."""
    data = (
        '{"event_id":"e","event_type":"t","event_time":"2026-11-24T16:05:09Z","v":'
        + strategies.to_json(value)
        + "}"
    ).encode("utf-8", "surrogatepass")
    try:
        checked = check_event(data)
    except Rejected:
        return
    assert _plain(checked["v"]) == _expected(value)
    assert contract.dumps(checked).encode() == data.replace(
        b'"2026-11-24T16:05:09Z"', b'"2026-11-24T16:05:09.000Z"', 1
    )


@given(st.integers(contract.MIN_EPOCH_MILLIS, contract.MAX_EPOCH_MILLIS))
@settings(max_examples=100)
def test_property_epoch_milliseconds_round_trip(epoch_ms: int) -> None:
    iso = contract.epoch_millis_to_iso(epoch_ms)
    assert contract.timestamp_millis(iso) == epoch_ms
    assert check_event(event(event_time=epoch_ms))["event_time"] == iso
    assert check_event(event(event_time=iso))["event_time"] == iso
