"""Amazon Data Firehose data-transformation Lambda: validate and normalize JSON events.

Firehose invokes :func:`handler` synchronously with a batch of records and expects an answer
for every record. Standard library only: this file is bundled into a Lambda zip as it is.

Input event (the fields this handler reads)::

    {"invocationId": "...", "deliveryStreamArn": "...", "region": "...",
     "sourceKinesisStreamArn": "...",            # only when the source is a Kinesis stream
     "records": [{"recordId": "...",
                  "approximateArrivalTimestamp": 1700000000000,   # epoch milliseconds
                  "data": "<base64>",
                  "kinesisRecordMetadata": {...}}, ...]}

Output::

    {"records": [{"recordId": "<same id>", "result": "Ok" | "ProcessingFailed",
                  "data": "<base64>"}, ...]}

Every input entry is answered exactly once and in input order (Firehose fails the whole batch
on a missing or unexpected record id). ``Dropped`` is never used: nothing is discarded
silently. A ``ProcessingFailed`` record carries its original ``data`` unchanged, and Firehose
writes it to the delivery stream's error output prefix (``!{firehose:error-output-type}``
puts ``processing-failed`` in that path).

Each record's data must be one UTF-8 JSON object holding the required fields. The defaults
are ``event_id`` and ``event_type`` (non-empty strings) and ``event_time`` (an ISO-8601
extended-format timestamp such as ``2026-11-24T18:05:09.123+02:00``, with or without an
offset, a naive one being UTC; or epoch milliseconds as a JSON integer). The environment
variable ``REQUIRED_FIELDS`` (comma-separated names, read on every invocation; unset or blank
means the defaults) replaces that list. A required field other than those three only has to
be present and not ``null``; fields that are not required are kept as they are.

A good record is answered ``Ok`` with its data normalized: ``event_time`` in ISO-8601 UTC with
millisecond precision and a ``Z`` suffix (extra fractional digits are truncated),
``event_type`` stripped and lower-cased, ``event_id`` stripped, and ``ingested_at`` added from
the record's ``approximateArrivalTimestamp`` in the same format unless the event already has
that field. The data is compact JSON (non-ASCII characters kept as UTF-8, not escaped)
followed by one newline, so the objects Firehose writes are JSON Lines, one event per line,
as Athena and Glue read them.

A record is ``ProcessingFailed`` with one of these reasons, which is logged at WARNING with
the record id (never the record's content, which may hold personal data):

``not_base64``, ``not_utf8`` (also for a lone surrogate escaped in a JSON string), ``empty``
(nothing but whitespace), ``not_json`` (also ``NaN``, ``Infinity`` and numbers out of the
float range, which no JSON reader downstream accepts), ``not_an_object``,
``missing_field:<name>`` (absent or ``null``), ``bad_type:<name>``, ``empty_field:<name>``
(a required string that is blank), ``bad_timestamp`` (``event_time`` unparseable or out of
range), ``too_large`` (normalized data over Firehose's 1,000 KiB per-record limit) and
``internal_error`` (an unexpected exception, logged at ERROR with its type and frames only).

One INFO line per invocation gives the counts of records, ok and failed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import os
import re
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

LOGGER = logging.getLogger("ml_blueprints.firehose_transform")
# Lambda's Python runtime leaves the root logger at WARNING unless the function's log level is
# configured (which sets AWS_LAMBDA_LOG_LEVEL), and the per-invocation counts are at INFO.
if not os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
    LOGGER.setLevel(logging.INFO)

#: Environment variable naming the required fields, comma-separated.
REQUIRED_FIELDS_ENV = "REQUIRED_FIELDS"
#: The required fields when ``REQUIRED_FIELDS`` is unset or blank.
DEFAULT_REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "event_type", "event_time")
#: Firehose's limit on one record's data (before base64): 1,000 KiB.
#: Namespace of the record-count metrics the handler emits (see :func:`metrics_line`).
METRICS_NAMESPACE = "MlBlueprints/FirehoseTransform"
MAX_RECORD_BYTES = 1_024_000
#: Lambda's limit on a synchronous invocation's response (6 MB).
LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024

OK = "Ok"
PROCESSING_FAILED = "ProcessingFailed"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<off_hour>\d{2})(?::?(?P<off_minute>\d{2}))?)?",
    re.ASCII,
)


class RecordRejected(Exception):
    """A record that cannot be delivered as it is; ``reason`` is a stable identifier."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def required_fields_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The required fields named by ``REQUIRED_FIELDS`` in ``environ`` (default ``os.environ``).

    Names are stripped; empty names and repeats are ignored. Unset or blank gives
    :data:`DEFAULT_REQUIRED_FIELDS`.
    """
    raw = (os.environ if environ is None else environ).get(REQUIRED_FIELDS_ENV, "")
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    return names or DEFAULT_REQUIRED_FIELDS


def format_timestamp(moment: datetime) -> str:
    """``moment`` (timezone-aware) as ISO-8601 UTC with milliseconds: ``2026-11-24T16:05:09.123Z``.

    Raises ``OverflowError`` if converting to UTC leaves the range of :class:`datetime`.
    """
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def epoch_ms_to_iso(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds; ``OverflowError`` out of range."""
    return format_timestamp(_EPOCH + timedelta(milliseconds=epoch_ms))


def normalize_timestamp(value: str | int) -> str:
    """An ISO-8601 string or epoch milliseconds as ISO-8601 UTC with milliseconds and ``Z``.

    Strings are the extended format ``YYYY-MM-DD[T| ]hh:mm[:ss[.fff...]][Z|+hh[:mm]|-hh[:mm]]``;
    without an offset they are taken as UTC. Fractional seconds are truncated to milliseconds.
    Raises :class:`RecordRejected` (``bad_timestamp``) for anything unparseable or out of range.
    """
    try:
        if isinstance(value, int):
            return epoch_ms_to_iso(value)
        match = _ISO_TIMESTAMP.fullmatch(value.strip())
        if match is None:
            raise RecordRejected("bad_timestamp")
        tz = UTC
        if match["sign"]:
            offset = timedelta(hours=int(match["off_hour"]), minutes=int(match["off_minute"] or 0))
            tz = timezone(-offset if match["sign"] == "-" else offset)
        fraction = (match["fraction"] or "")[:3].ljust(3, "0")
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction) * 1000,
            tzinfo=tz,
        )
        return format_timestamp(moment)
    except (ValueError, OverflowError) as exc:
        raise RecordRejected("bad_timestamp") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _parse_object(data: bytes) -> dict[str, Any]:
    """``data`` as a JSON object, or :class:`RecordRejected`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordRejected("not_utf8") from exc
    if not text.strip():
        raise RecordRejected("empty")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise RecordRejected("not_json") from exc
    if not isinstance(value, dict):
        raise RecordRejected("not_an_object")
    return value


def _required_string(event: dict[str, Any], name: str) -> str:
    value = event[name]
    if not isinstance(value, str):
        raise RecordRejected(f"bad_type:{name}")
    value = value.strip()
    if not value:
        raise RecordRejected(f"empty_field:{name}")
    return value


def transform_record(data: bytes, arrival_ms: int | None, required: tuple[str, ...]) -> bytes:
    """Validate and normalize one record's decoded data; return the data to deliver.

    ``arrival_ms`` is Firehose's ``approximateArrivalTimestamp`` (epoch milliseconds), used
    for ``ingested_at``; ``None`` (or a value out of range) adds no ``ingested_at``.
    ``required`` names the fields that must be present; ``event_id``, ``event_type`` and
    ``event_time`` are also type-checked and normalized when, and only when, they are in it.
    Returns compact UTF-8 JSON followed by ``\\n``. Raises :class:`RecordRejected`.
    """
    event = _parse_object(data)
    for name in required:
        if event.get(name) is None:
            raise RecordRejected(f"missing_field:{name}")
    if "event_id" in required:
        event["event_id"] = _required_string(event, "event_id")
    if "event_type" in required:
        event["event_type"] = _required_string(event, "event_type").lower()
    if "event_time" in required:
        event_time = event["event_time"]
        # bool is an int subclass, and a float is not epoch milliseconds as an integer.
        if isinstance(event_time, bool) or not isinstance(event_time, str | int):
            raise RecordRejected("bad_type:event_time")
        event["event_time"] = normalize_timestamp(event_time)
    if arrival_ms is not None and "ingested_at" not in event:
        # Out of range means Firehose's own metadata is odd: deliver the event without it.
        with contextlib.suppress(OverflowError):
            event["ingested_at"] = epoch_ms_to_iso(arrival_ms)
    try:
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        out = text.encode("utf-8") + b"\n"
    except UnicodeEncodeError as exc:  # a lone surrogate such as "\ud800" in a string
        raise RecordRejected("not_utf8") from exc
    if len(out) > MAX_RECORD_BYTES:
        raise RecordRejected("too_large")
    return out


def _decode_data(data: Any) -> bytes:
    """A record's base64 ``data`` as bytes (strict: standard alphabet, padded)."""
    if not isinstance(data, str):
        raise RecordRejected("not_base64")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordRejected("not_base64") from exc


def _arrival_ms(value: Any) -> int | None:
    """``approximateArrivalTimestamp`` as an int, or ``None`` if absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) else None


def _process(record: Mapping[str, Any], required: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """One answer for one input entry, and the reason it failed (``""`` if it is ``Ok``)."""
    record_id = record.get("recordId")
    original = record.get("data")
    try:
        data = _decode_data(original)
        arrival_ms = _arrival_ms(record.get("approximateArrivalTimestamp"))
        out = transform_record(data, arrival_ms, required)
    except RecordRejected as exc:
        reason = exc.reason
        LOGGER.warning("record rejected: record_id=%s reason=%s", record_id, reason)
    except Exception as exc:  # one bad record must not fail the whole batch
        reason = "internal_error"
        # The exception's type and frames only: its message may quote the record's content.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        LOGGER.error(
            "record rejected: record_id=%s reason=%s type=%s\n%s",
            record_id,
            reason,
            type(exc).__name__,
            frames,
        )
    else:
        encoded = base64.b64encode(out).decode("ascii")
        return {"recordId": record_id, "result": OK, "data": encoded}, ""
    return {"recordId": record_id, "result": PROCESSING_FAILED, "data": original}, reason


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, Any]]]:
    """Firehose's transformation entry point: one answer per input record, in input order."""
    records = event.get("records") or []
    required = required_fields_from_env()
    answers: list[dict[str, Any]] = []
    failed = 0
    for record in records:
        answer, reason = _process(record, required)
        answers.append(answer)
        failed += bool(reason)

    duplicates = sum(n - 1 for n in Counter(a["recordId"] for a in answers).values() if n > 1)
    if duplicates:
        LOGGER.warning("batch has %d duplicate record ids; each entry answered once", duplicates)
    # About the size of the JSON response; Lambda rejects one over 6 MB and Firehose then
    # retries and fails the whole batch, so say so rather than fail without a clue.
    size = 16 + sum(
        len(a["data"] if isinstance(a["data"], str) else "") + len(str(a["recordId"])) + 64
        for a in answers
    )
    if size > LAMBDA_RESPONSE_LIMIT_BYTES:
        LOGGER.warning(
            "response of about %d bytes exceeds Lambda's %d-byte limit; "
            "lower the processor's BufferSizeInMBs",
            size,
            LAMBDA_RESPONSE_LIMIT_BYTES,
        )
    LOGGER.info(
        "firehose transform: invocation_id=%s records=%d ok=%d failed=%d",
        event.get("invocationId"),
        len(answers),
        len(answers) - failed,
        failed,
    )
    if answers:
        print(metrics_line(ok=len(answers) - failed, failed=failed), flush=True)
    return {"records": answers}


def metrics_line(*, ok: int, failed: int, now_ms: int | None = None) -> str:
    """One CloudWatch embedded-metric-format log line with the batch's record counts.

    Lambda ships stdout to CloudWatch Logs, which turns the line into the metrics
    ``OkRecords`` and ``FailedRecords`` in namespace :data:`METRICS_NAMESPACE`, by
    ``FunctionName``: no API call, no permission, no dependency. The real-time layer alarms
    on ``FailedRecords``.
    """
    document = {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        {"Name": "OkRecords", "Unit": "Count"},
                        {"Name": "FailedRecords", "Unit": "Count"},
                    ],
                }
            ],
        },
        "FunctionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
        "OkRecords": ok,
        "FailedRecords": failed,
    }
    return json.dumps(document, separators=(",", ":"))
