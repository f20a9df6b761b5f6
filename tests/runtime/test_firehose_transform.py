"""The Firehose transformation Lambda, driven with events in Firehose's own format."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_blueprints.runtime import event_contract as contract
from ml_blueprints.runtime import firehose_transform as ft
from ml_blueprints.runtime.firehose_transform import (
    LAMBDA_RESPONSE_LIMIT_BYTES,
    MAX_RECORD_BYTES,
    RecordRejected,
    handler,
    required_fields_from_env,
    transform_record,
)
from tests.runtime import strategies

LOGGER_NAME = "ml_blueprints.firehose_transform"
ARRIVAL_MS = 1795536309456
ARRIVAL_ISO = "2026-11-24T16:05:09.456Z"
DEFAULTS = ("event_id", "event_type", "event_time")


# --- helpers: Firehose events ---------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def as_data(payload: Any) -> str:
    """``payload`` as a producer would send it: JSON, UTF-8, base64 (as Firehose passes it)."""
    return b64(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def record_id(n: int) -> str:
    return f"49546986683135544286507457936321625675700192471156785{n:03d}"


def firehose_event(
    *datas: str, ids: list[str] | None = None, arrival_ms: int | None = ARRIVAL_MS
) -> dict[str, Any]:
    """A Firehose transformation event (Kinesis stream source) with ``datas`` as record data."""
    ids = ids if ids is not None else [record_id(n) for n in range(len(datas))]
    assert len(ids) == len(datas)
    records = []
    for n, (rid, data) in enumerate(zip(ids, datas, strict=True)):
        record: dict[str, Any] = {
            "recordId": rid,
            "data": data,
            "kinesisRecordMetadata": {
                "shardId": "shardId-000000000000",
                "partitionKey": f"key-{n}",
                "approximateArrivalTimestamp": arrival_ms,
                "sequenceNumber": f"4959{n:052d}",
                "subsequenceNumber": "",
            },
        }
        if arrival_ms is not None:
            record["approximateArrivalTimestamp"] = arrival_ms
        records.append(record)
    return {
        "invocationId": "00540a87-5050-496a-84e4-e7d92bbaf5e2",
        "deliveryStreamArn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/events",
        "sourceKinesisStreamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/events",
        "region": "eu-west-1",
        "records": records,
    }


def good_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": " evt-001 ",
        "event_type": " Page_View ",
        "event_time": "2026-11-24T18:05:09.123+02:00",
    }
    event.update(fields)
    return event


def decode_line(answer: dict[str, Any]) -> dict[str, Any]:
    """An ``Ok`` answer's data: exactly one compact JSON line."""
    raw = base64.b64decode(answer["data"], validate=True)
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1
    return json.loads(raw)


def run(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Call the handler and check the contract every response must meet."""
    response = handler(event, None)
    assert set(response) == {"records"}
    answers = response["records"]
    assert [a["recordId"] for a in answers] == [r["recordId"] for r in event.get("records", [])]
    for answer in answers:
        assert set(answer) == {"recordId", "result", "data"}
        assert answer["result"] in {"Ok", "ProcessingFailed"}
    return answers


def messages_at(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """The handler's log messages at exactly ``level``."""
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME and r.levelno == level]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return messages_at(caplog, logging.WARNING)


@pytest.fixture(autouse=True)
def default_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("REQUIRED_FIELDS", raising=False)
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)


# --- the batch contract ---------------------------------------------------------------------


def test_mixed_batch_answers_every_record_once_in_order() -> None:
    datas = [
        as_data(good_event(user={"id": 7, "tags": ["a", "b"]}, score=0.5, flag=None)),
        "%%% not base64 %%%",
        as_data({"event_id": "evt-003", "event_time": "2026-11-24T16:05:09Z"}),
        b64(b"{not json"),
        as_data(good_event(event_id="evt-005", event_time=1795536309000)),
    ]
    event = firehose_event(*datas)
    answers = run(event)

    assert [(a["recordId"], a["result"]) for a in answers] == [
        (record_id(0), "Ok"),
        (record_id(1), "ProcessingFailed"),
        (record_id(2), "ProcessingFailed"),
        (record_id(3), "ProcessingFailed"),
        (record_id(4), "Ok"),
    ]
    assert base64.b64decode(answers[0]["data"]) == (
        b'{"event_id":"evt-001","event_type":"page_view","event_time":"2026-11-24T16:05:09.123Z",'
        b'"user":{"id":7,"tags":["a","b"]},"score":0.5,"flag":null,'
        b'"ingested_at":"2026-11-24T16:05:09.456Z"}\n'
    )
    assert decode_line(answers[4]) == {
        "event_id": "evt-005",
        "event_type": "page_view",
        "event_time": "2026-11-24T16:05:09.000Z",
        "ingested_at": ARRIVAL_ISO,
    }
    for n in (1, 2, 3):  # failed records carry their original data, byte for byte
        assert answers[n]["data"] == datas[n]


@pytest.mark.parametrize("event", [{"records": []}, {"invocationId": "x"}, {"records": None}])
def test_no_records_gives_an_empty_answer(event: dict[str, Any]) -> None:
    assert handler(event, None) == {"records": []}


def test_duplicate_record_ids_get_one_answer_per_entry() -> None:
    ids = [record_id(1), record_id(1), record_id(2), record_id(1)]
    datas = [as_data(good_event()), b64(b"[]"), as_data(good_event()), as_data(good_event())]
    answers = run(firehose_event(*datas, ids=ids))
    assert [a["result"] for a in answers] == ["Ok", "ProcessingFailed", "Ok", "Ok"]
    assert answers[1]["data"] == datas[1]


def test_record_without_arrival_time_gets_no_ingested_at() -> None:
    (answer,) = run(firehose_event(as_data(good_event()), arrival_ms=None))
    assert answer["result"] == "Ok"
    assert "ingested_at" not in decode_line(answer)


def test_a_producers_ingested_at_is_kept_normalized_and_a_null_one_replaced() -> None:
    datas = [
        as_data(good_event(ingested_at="2026-11-24T17:00:00+01:00")),
        as_data(good_event(ingested_at=None)),
    ]
    first, second = run(firehose_event(*datas))
    assert decode_line(first)["ingested_at"] == "2026-11-24T16:00:00.000Z"
    assert decode_line(second)["ingested_at"] == ARRIVAL_ISO


def test_payload_numbers_are_kept_as_written() -> None:
    raw = (
        b'{"event_id":"e1","event_type":"t","event_time":"2026-11-24T16:05:09Z",'
        b'"a":12345678901234567.89,"b":0.10000000000000000001,"c":-0,"d":1E5,"e":1.50,'
        b'"f":123456789012345678901234567890,"g":{"h":[2.0e-3]}}'
    )
    (answer,) = run(firehose_event(b64(raw)))
    assert base64.b64decode(answer["data"]) == (
        b'{"event_id":"e1","event_type":"t","event_time":"2026-11-24T16:05:09.000Z",'
        b'"a":12345678901234567.89,"b":0.10000000000000000001,"c":-0,"d":1E5,"e":1.50,'
        b'"f":123456789012345678901234567890,"g":{"h":[2.0e-3]},'
        b'"ingested_at":"2026-11-24T16:05:09.456Z"}\n'
    )


# --- rejections -----------------------------------------------------------------------------

# The handler's own reasons, and one input per kind of contract rule (every rule of the contract
# is tested in test_event_contract.py): the handler answers with the contract's reason.
REJECTIONS = [
    ("not base64!", "not_base64"),
    ("eyJhIjoxfQ", "not_base64"),  # '{"a":1}' without its padding
    ("eyJhIjo=x", "not_base64"),  # data after the padding
    ("eyJhIjox\nfQ==", "not_base64"),  # a newline inside
    ("e30=é", "not_base64"),  # not ASCII
    (b64(b"\xff\xfe{}"), "not_utf8"),
    (b64(b" \n\t\r\n"), "empty"),
    (b64(b'{"a": 1} {"b": 2}'), "not_json"),
    (b64(b'{"event_id":"e","event_type":"t","event_time":1,"x":NaN}'), "not_json"),
    (b64(b'[{"event_id": "e"}]'), "not_an_object"),
    (as_data({"event_type": "t", "event_time": 1}), "missing_field:event_id"),
    (as_data(good_event(event_id=123)), "bad_type:event_id"),
    (as_data(good_event(event_type="")), "empty_field:event_type"),
    (as_data(good_event(event_time="2026-02-30T00:00:00Z")), "bad_timestamp:event_time"),
    (as_data(good_event(ingested_at="from-producer")), "bad_timestamp:ingested_at"),
    # epoch seconds are not read as milliseconds (a date in 1970)
    (as_data(good_event(event_time=1795536309)), "bad_timestamp:event_time"),
    (b64(b'{"event_id":"e","event_type":"t","event_time":1795536309000,"x":1e400}'), "bad_number"),
    # two fields differing only in case would collapse into one column downstream
    (as_data(good_event(Amount=1, amount=2)), "duplicate_field"),
    (
        b64(b'{"event_id":"e","event_type":"t","event_time":1795536309000,"a":1,"a":2}'),
        "duplicate_field",
    ),
    (as_data(good_event(event_date="2026-11-24")), "reserved_field:event_date"),
    # A lone surrogate, escaped in the JSON text: valid UTF-8 input, no valid UTF-8 output.
    (b64(json.dumps(good_event(note="\ud800")).encode("ascii")), "not_utf8"),
]


@pytest.mark.parametrize(("data", "reason"), REJECTIONS)
def test_rejected_record_fails_with_its_original_data(
    data: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = firehose_event(as_data(good_event()), data)
    answers = run(event)
    assert answers[0]["result"] == "Ok"
    assert answers[1] == {"recordId": record_id(1), "result": "ProcessingFailed", "data": data}
    assert warnings_of(caplog) == [f"record rejected: record_id={record_id(1)} reason={reason}"]


def test_data_that_is_not_a_string_is_not_base64(caplog: pytest.LogCaptureFixture) -> None:
    event = firehose_event("placeholder")
    del event["records"][0]["data"]
    (answer,) = run(event)
    assert answer["result"] == "ProcessingFailed"
    assert "reason=not_base64" in warnings_of(caplog)[0]


def test_transform_record_is_pure_and_raises_record_rejected() -> None:
    with pytest.raises(RecordRejected) as caught:
        transform_record(b'{"event_id": "e"}', ARRIVAL_MS, DEFAULTS)
    assert caught.value.reason == "missing_field:event_type"
    data = b'{"event_id":"e","event_type":"T","event_time":100000000000}'
    line = transform_record(data, None, DEFAULTS)
    assert line == b'{"event_id":"e","event_type":"t","event_time":"1973-03-03T09:46:40.000Z"}\n'


def test_unexpected_error_fails_only_that_record(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = ft.transform_record

    def flaky(data: bytes, arrival_ms: int | None, required: tuple[str, ...]) -> bytes:
        if b"@" in data:
            raise RuntimeError(data.decode())  # a message that quotes the record's content
        return real(data, arrival_ms, required)

    monkeypatch.setattr(ft, "transform_record", flaky)
    datas = [as_data(good_event(email="jane.doe@example.com")), as_data(good_event())]
    answers = run(firehose_event(*datas))
    assert [a["result"] for a in answers] == ["ProcessingFailed", "Ok"]
    assert answers[0]["data"] == datas[0]
    errors = messages_at(caplog, logging.ERROR)
    assert len(errors) == 1
    assert "reason=internal_error type=RuntimeError" in errors[0]
    assert "jane.doe" not in caplog.text


# --- normalization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        ("2026-11-24T18:05:09.123+02:00", "2026-11-24T16:05:09.123Z"),
        ("2026-11-24T10:35:09.123-05:30", "2026-11-24T16:05:09.123Z"),
        ("2026-11-24T18:05:09+0200", "2026-11-24T16:05:09.000Z"),
        ("2026-11-24T23:30:00-01:00", "2026-11-25T00:30:00.000Z"),  # crosses midnight
        ("2026-11-24T16:05:09.123Z", "2026-11-24T16:05:09.123Z"),
        ("2026-11-24t16:05:09z", "2026-11-24T16:05:09.000Z"),
        ("2026-11-24T16:05:09", "2026-11-24T16:05:09.000Z"),  # naive is UTC
        ("2026-11-24 16:05:09.5", "2026-11-24T16:05:09.500Z"),
        ("2026-11-24T16:05", "2026-11-24T16:05:00.000Z"),
        ("2026-11-24T16:05:09.1Z", "2026-11-24T16:05:09.100Z"),  # padded
        ("2026-11-24T16:05:09.123456Z", "2026-11-24T16:05:09.123Z"),  # truncated
        ("2026-11-24T16:05:09.999999999Z", "2026-11-24T16:05:09.999Z"),  # not rounded up
        (" 2026-11-24T16:05:09Z ", "2026-11-24T16:05:09.000Z"),
        (1795536309123, "2026-11-24T16:05:09.123Z"),  # epoch milliseconds
        ("1899-12-31T23:59:59Z", "1899-12-31T23:59:59.000Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
    ],
)
def test_event_time_is_normalized_to_utc_milliseconds(event_time: str | int, expected: str) -> None:
    (answer,) = run(firehose_event(as_data(good_event(event_time=event_time))))
    assert answer["result"] == "Ok"
    assert decode_line(answer)["event_time"] == expected


def test_non_ascii_text_is_kept_as_utf8_not_escaped() -> None:
    text = "Café Zürich, 東京の天気, naïve 🙂"
    # The producer escaped its non-ASCII characters; the output must not.
    raw = json.dumps(good_event(event_type=" ÉVÉNEMENT ", note=text), ensure_ascii=True)
    (answer,) = run(firehose_event(b64(raw.encode("ascii"))))
    out = base64.b64decode(answer["data"])
    assert b"\\u" not in out
    assert f'"note":"{text}"'.encode() in out
    assert '"event_type":"événement"'.encode() in out
    assert decode_line(answer)["note"] == text


# --- sizes ----------------------------------------------------------------------------------


def _payload_event(size: int) -> dict[str, Any]:
    return good_event(event_time="2026-11-24T16:05:09Z", payload="x" * size)


def _output_size(size: int) -> int:
    return len(transform_record(json.dumps(_payload_event(size)).encode(), ARRIVAL_MS, DEFAULTS))


def test_record_near_the_limit_is_answered_ok() -> None:
    (answer,) = run(firehose_event(as_data(_payload_event(1_000_000))))
    assert answer["result"] == "Ok"
    assert len(decode_line(answer)["payload"]) == 1_000_000


def test_record_over_the_limit_after_normalization_fails(caplog: pytest.LogCaptureFixture) -> None:
    fits = MAX_RECORD_BYTES - _output_size(0)
    assert _output_size(fits) == MAX_RECORD_BYTES
    compact = json.dumps(_payload_event(fits + 1), separators=(",", ":")).encode()
    assert len(compact) < MAX_RECORD_BYTES  # the input fits; its normalized output does not
    datas = [b64(json.dumps(_payload_event(fits)).encode()), b64(compact)]
    answers = run(firehose_event(*datas))
    assert answers[0]["result"] == "Ok"
    assert len(base64.b64decode(answers[0]["data"])) == MAX_RECORD_BYTES
    assert answers[1] == {"recordId": record_id(1), "result": "ProcessingFailed", "data": datas[1]}
    assert warnings_of(caplog) == [f"record rejected: record_id={record_id(1)} reason=too_large"]


def test_batch_near_the_lambda_response_limit_answers_every_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    datas = [as_data(_payload_event(900_000)) for _ in range(5)]
    response = handler(firehose_event(*datas), None)
    assert [a["result"] for a in response["records"]] == ["Ok"] * 5
    assert [a["recordId"] for a in response["records"]] == [record_id(n) for n in range(5)]
    assert 5_900_000 < len(json.dumps(response)) < LAMBDA_RESPONSE_LIMIT_BYTES
    assert warnings_of(caplog) == []


def test_batch_over_the_lambda_response_limit_is_answered_and_flagged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    datas = [as_data(_payload_event(1_000_000)) for _ in range(5)]
    response = handler(firehose_event(*datas), None)
    assert [a["result"] for a in response["records"]] == ["Ok"] * 5
    assert len(json.dumps(response)) > LAMBDA_RESPONSE_LIMIT_BYTES
    (warning,) = warnings_of(caplog)
    assert "exceeds Lambda's" in warning
    assert "BufferSizeInMBs" in warning


# --- configuration --------------------------------------------------------------------------


def test_required_fields_are_read_from_the_environment_per_invocation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    relaxed = {"event_id": " e-1 ", "user_id": "u-1", "event_type": "Click", "event_time": "soon"}
    datas = [as_data(relaxed), as_data({"event_id": "e-2"})]

    monkeypatch.setenv("REQUIRED_FIELDS", " event_id , user_id,, ")
    answers = run(firehose_event(*datas))
    assert [a["result"] for a in answers] == ["Ok", "ProcessingFailed"]
    # Fields that are not required are kept as they are.
    assert decode_line(answers[0]) == {**relaxed, "event_id": "e-1", "ingested_at": ARRIVAL_ISO}
    assert warnings_of(caplog) == [
        f"record rejected: record_id={record_id(1)} reason=missing_field:user_id"
    ]

    caplog.clear()
    monkeypatch.delenv("REQUIRED_FIELDS")
    answers = run(firehose_event(*datas))
    assert [a["result"] for a in answers] == ["ProcessingFailed", "ProcessingFailed"]
    assert "reason=bad_timestamp:event_time" in warnings_of(caplog)[0]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, DEFAULTS),
        ({"REQUIRED_FIELDS": ""}, DEFAULTS),
        ({"REQUIRED_FIELDS": " , "}, DEFAULTS),
        ({"REQUIRED_FIELDS": "a"}, ("a",)),
        ({"REQUIRED_FIELDS": " b , a,b ,"}, ("b", "a")),
    ],
)
def test_required_fields_from_env(environ: dict[str, str], expected: tuple[str, ...]) -> None:
    assert required_fields_from_env(environ) == expected


# --- logging --------------------------------------------------------------------------------


def test_logs_counts_and_one_warning_per_failure_without_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "jane.doe@example.com"
    datas = [
        as_data(good_event(email=secret)),
        as_data({"email": secret, "event_type": "t", "event_time": 1}),
        as_data(good_event(email=secret)),
        b64(f'{{"email": "{secret}"'.encode()),
    ]
    run(firehose_event(*datas))

    assert messages_at(caplog, logging.INFO) == [
        "firehose transform: invocation_id=00540a87-5050-496a-84e4-e7d92bbaf5e2 "
        "records=4 ok=2 failed=2"
    ]
    assert warnings_of(caplog) == [
        f"record rejected: record_id={record_id(1)} reason=missing_field:event_id",
        f"record rejected: record_id={record_id(3)} reason=not_json",
    ]
    for data in datas:
        assert data not in caplog.text
    assert secret not in caplog.text


def test_record_counts_are_emitted_as_embedded_metrics(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mlbp-transform")
    good = {"event_id": "e1", "event_type": "click", "event_time": "2026-11-24T16:05:09Z"}
    event = {
        "invocationId": "i",
        "records": [
            {
                "recordId": "1",
                "approximateArrivalTimestamp": 0,
                "data": base64.b64encode(json.dumps(good).encode()).decode(),
            },
            {
                "recordId": "2",
                "approximateArrivalTimestamp": 0,
                "data": base64.b64encode(b"not json").decode(),
            },
        ],
    }
    ft.handler(event, None)
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    document = json.loads(line)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "MlBlueprints/FirehoseTransform"
    assert directive["Dimensions"] == [["FunctionName"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"OkRecords", "FailedRecords"}
    assert (document["FunctionName"], document["OkRecords"], document["FailedRecords"]) == (
        "mlbp-transform",
        1,
        1,
    )


def test_the_metrics_namespace_matches_the_alarm() -> None:
    from ml_blueprints.constructs.streaming.streaming_ingestion import TRANSFORM_METRICS_NAMESPACE

    assert ft.METRICS_NAMESPACE == TRANSFORM_METRICS_NAMESPACE


# --- properties -------------------------------------------------------------------------------

_ABSENT = object()
record_ids = st.one_of(
    st.sampled_from([record_id(1), record_id(2), "x"]),  # repeats across a batch
    st.text(max_size=8),
    st.sampled_from([None, 7, ""]),
)
record_datas = st.one_of(
    strategies.lines.map(lambda line: b64(line.render())),
    strategies.lines.map(lambda line: b64(line.render())),
    st.text(max_size=12),  # rarely valid base64
    st.sampled_from([None, 12, _ABSENT]),
)
arrivals = st.one_of(
    st.just(ARRIVAL_MS),
    st.integers(-(2**70), 2**70),
    st.sampled_from([None, True, 1.5e12, float("nan"), "1795536309456", _ABSENT]),
)


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    records = []
    for _ in range(draw(st.integers(0, 6))):
        record = {
            "recordId": draw(record_ids),
            "data": draw(record_datas),
            "approximateArrivalTimestamp": draw(arrivals),
        }
        records.append({key: value for key, value in record.items() if value is not _ABSENT})
    return records


def _accepts(data: Any) -> dict[str, Any] | None:
    """What the contract makes of a record's data: the checked event, or None if rejected."""
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except ValueError:
        return None
    if raw is None:
        return None
    try:
        return contract.check_event(raw)
    except contract.Rejected:
        return None


# caplog is cleared by the test itself for each example.
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=batches())
def test_property_every_record_is_answered_exactly_once(
    records: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """One answer per input entry, in order, with its record id; a failed record carries its
    data unchanged; a record is Ok exactly when the event contract accepts its data, and its
    output is a JSON line the contract accepts as it is (the Spark job checks it again)."""
    caplog.clear()
    event = {"invocationId": "i", "records": records}
    answers = handler(event, None)["records"]
    assert len(answers) == len(records)
    for record, answer in zip(records, answers, strict=True):
        assert set(answer) == {"recordId", "result", "data"}
        assert answer["recordId"] == record.get("recordId")
        accepted = _accepts(record.get("data"))
        if answer["result"] == "ProcessingFailed":
            assert accepted is None
            assert answer["data"] == record.get("data")
            continue
        assert answer["result"] == "Ok"
        assert accepted is not None
        out = base64.b64decode(answer["data"], validate=True)
        assert out.endswith(b"\n") and out.count(b"\n") == 1
        again = contract.check_event(out[:-1])
        assert contract.dumps(again).encode() + b"\n" == out  # a fixed point
        # every field is the contract's normalized value: nothing else changed
        assert {k: v for k, v in again.items() if k != "ingested_at"} == {
            k: v for k, v in accepted.items() if k != "ingested_at"
        }
    failed = sum(a["result"] != "Ok" for a in answers)
    rejected = [w for w in warnings_of(caplog) if w.startswith("record rejected:")]
    assert len(rejected) == failed  # one warning per failed record
