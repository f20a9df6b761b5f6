"""Amazon Data Firehose data-transformation Lambda: validate and normalize JSON events.

Firehose invokes :func:`handler` synchronously with a batch of records and expects an answer
for every record. Standard library only: this file is bundled into a Lambda zip as it is, with
the one module it imports, :mod:`event_contract`, beside it.

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

Each record's data must be one event as :mod:`event_contract` defines it: UTF-8 JSON holding
one object with the required fields, checked by the same rules, with the same reasons, as the
Spark job that curates the raw zone later applies (so what this handler answers ``Ok`` the job
curates). The required fields default to ``event_id`` and ``event_type`` (non-blank strings)
and ``event_time`` (an ISO-8601 timestamp such as ``2026-11-24T18:05:09.123+02:00``, a naive
one being UTC, or epoch milliseconds as a JSON integer from 1973-03-03 on: a smaller integer,
such as epoch seconds, is rejected rather than read as a date in 1970). The environment
variable ``REQUIRED_FIELDS`` (comma-separated names, read on every invocation; unset or blank
means the defaults) replaces that list; a required field other than those three only has to be
present and not ``null``. The Spark job always requires the three.

A good record is answered ``Ok`` with its data normalized: ``event_time`` (and a producer's
``ingested_at``) in ISO-8601 UTC with millisecond precision and a ``Z`` suffix (extra
fractional digits are truncated), ``event_type`` stripped and lower-cased, ``event_id``
stripped, and ``ingested_at`` set from the record's ``approximateArrivalTimestamp`` in the same
format unless the event already has a non-null one. Every other field is kept as it is, numbers
with their text verbatim (``12345678901234567.89`` stays so). The data is compact JSON
(non-ASCII characters kept as UTF-8, not escaped) followed by one newline, so the objects
Firehose writes are JSON Lines, one event per line, as Athena, Glue and the Spark job read them.

A record is ``ProcessingFailed`` with one of the contract's reasons (``not_utf8``, ``empty``,
``not_json``, ``duplicate_field``, ``bad_number``, ``too_deep``, ``not_an_object``,
``missing_field:<name>``, ``bad_type:<name>``, ``empty_field:<name>``,
``bad_timestamp:<name>``, ``reserved_field:<name>``) or one of this handler's own:
``not_base64`` (the record's data), ``too_large`` (normalized data over Firehose's 1,000 KiB
per-record limit) and ``internal_error`` (an unexpected exception, logged at ERROR with its type
and frames only). Each is logged at WARNING with the record id (never the record's content,
which may hold personal data).

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
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from typing import Any

try:  # in the package
    from ml_blueprints.runtime import event_contract as contract
except ImportError:  # in the Lambda bundle: event_contract.py beside this file
    import event_contract as contract  # type: ignore[no-redef]

LOGGER = logging.getLogger("ml_blueprints.firehose_transform")
# Lambda's Python runtime leaves the root logger at WARNING unless the function's log level is
# configured (which sets AWS_LAMBDA_LOG_LEVEL), and the per-invocation counts are at INFO.
if not os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
    LOGGER.setLevel(logging.INFO)

#: Environment variable naming the required fields, comma-separated.
REQUIRED_FIELDS_ENV = "REQUIRED_FIELDS"
#: The required fields when ``REQUIRED_FIELDS`` is unset or blank.
DEFAULT_REQUIRED_FIELDS: tuple[str, ...] = contract.REQUIRED_FIELDS
#: Namespace of the record-count metrics the handler emits (see :func:`metrics_line`).
METRICS_NAMESPACE = "MlBlueprints/FirehoseTransform"
#: Firehose's limit on one record's data (before base64): 1,000 KiB.
MAX_RECORD_BYTES = 1_024_000
#: Lambda's limit on a synchronous invocation's response (6 MB).
LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024

OK = "Ok"
PROCESSING_FAILED = "ProcessingFailed"

#: A record that cannot be delivered as it is; ``reason`` is a stable identifier.
RecordRejected = contract.Rejected


def required_fields_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The required fields named by ``REQUIRED_FIELDS`` in ``environ`` (default ``os.environ``).

    Names are stripped; empty names and repeats are ignored. Unset or blank gives
    :data:`DEFAULT_REQUIRED_FIELDS`.
    """
    raw = (os.environ if environ is None else environ).get(REQUIRED_FIELDS_ENV, "")
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    return names or DEFAULT_REQUIRED_FIELDS


def transform_record(data: bytes, arrival_ms: int | None, required: tuple[str, ...]) -> bytes:
    """Validate and normalize one record's decoded data; return the data to deliver.

    ``arrival_ms`` is Firehose's ``approximateArrivalTimestamp`` (epoch milliseconds), used
    for ``ingested_at``; ``None`` (or a value out of range) adds no ``ingested_at``.
    ``required`` names the fields that must be present (see :func:`event_contract.validate_event`).
    Returns compact UTF-8 JSON followed by ``\\n``. Raises :class:`RecordRejected`.
    """
    event = contract.check_event(data, required)
    if arrival_ms is not None and event.get(contract.INGESTED_AT) is None:
        # Out of range means Firehose's own metadata is odd: deliver the event without it.
        with contextlib.suppress(OverflowError):
            event[contract.INGESTED_AT] = contract.epoch_millis_to_iso(arrival_ms)
    out = contract.dumps(event).encode("utf-8") + b"\n"
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
