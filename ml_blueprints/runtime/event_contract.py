"""The event contract: one set of rules for what an event is, run by the Firehose transform
(:mod:`firehose_transform`) and by the Spark job (:mod:`spark_etl`) alike.

Both runtimes call :func:`parse_event` and :func:`validate_event` from this module, so an event
the transform accepts is exactly an event the Spark job accepts and curates, and a line the job
quarantines is one the transform would have rejected, with the same reason. Standard library
only and Python 3.9+: the Lambda bundle ships this file beside the transform, the Glue job gets
it with ``--extra-py-files`` and the EMR step with ``--py-files``.

An event is UTF-8 JSON text holding one object. The checks, in this order; the first that fails
gives the reason (a :class:`Rejected` with a stable ``reason``):

``not_utf8``
    The bytes are not UTF-8, or a string (a value or a field name) holds a lone surrogate such
    as ``"\\ud800"``, which no UTF-8 writer downstream can store.
``empty``
    Nothing but JSON whitespace (space, tab, CR, LF).
``not_json``, ``duplicate_field``, ``bad_number``
    Found while parsing, the first one met wins: a number is checked as it is read, an
    object's names when the object ends, the syntax throughout. ``not_json``: not one JSON
    value (also ``NaN``, ``Infinity``, text after the value, nesting deeper than Python's
    parser goes).
    ``duplicate_field``: an object names a field twice, exactly or differing only in case
    (``Amount`` and ``amount``), at any depth: the Glue Data Catalog, Athena and Spark match
    names without case, so two such fields could not both be kept. ``bad_number``: an integer
    of more than :data:`MAX_INTEGER_DIGITS` digits (the widest decimal Spark and Parquet store)
    or a number out of the double range (``1e400``).
``too_deep``
    Objects and arrays nested more than :data:`MAX_DEPTH` deep (the event itself is level 1).
``not_an_object``
    The JSON value is not an object.
``missing_field:<name>``, ``bad_type:<name>``, ``empty_field:<name>``, ``bad_timestamp:<name>``
    For each required field in order (:data:`REQUIRED_FIELDS` unless the caller names others):
    ``missing_field`` if it is absent or null (names match exactly, with case). ``event_id``
    and ``event_type`` must be strings (``bad_type``) that are not blank (``empty_field``);
    they are stripped of leading and trailing whitespace (:meth:`str.strip`, which also
    strips Unicode spaces), ``event_type`` also lower-cased. ``event_time`` must be a string or
    an integer (``bad_type``) holding a timestamp (``bad_timestamp``, see
    :func:`parse_instant`). A required field other than these three only has to be present
    and not null.
``bad_type:ingested_at``, ``bad_timestamp:ingested_at``
    ``ingested_at`` is optional; when present and not null it follows the rules of
    ``event_time``.
``reserved_field:<name>``
    A top-level field named ``event_date`` in any case (the curated output's partition
    column, derived from ``event_time``), or named ``ingested_at`` in another case than that
    (``Ingested_At``: it would be the same column as ``ingested_at``).

Timestamps (``event_time``, ``ingested_at``) become ISO-8601 UTC with milliseconds and ``Z``
(:func:`format_timestamp`); every other field is kept as it is: strings, ``true``/``false``/
``null``, nested objects and arrays, and numbers with their text verbatim (:class:`JsonNumber`;
``12345678901234567.89`` stays ``12345678901234567.89``). :func:`dumps` writes an event as
compact JSON with those numbers untouched.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

#: The fields every event must have, by default.
REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "event_type", "event_time")
EVENT_ID, EVENT_TYPE, EVENT_TIME = REQUIRED_FIELDS
#: Optional: when the event reached the pipeline (the transform adds it from Firehose).
INGESTED_AT = "ingested_at"
#: The curated output's partition column (the UTC date of ``event_time``): not a payload field.
PARTITION_FIELD = "event_date"
#: Integers of more digits than this are rejected (``bad_number``): Spark's widest decimal.
MAX_INTEGER_DIGITS = 38
#: Deepest nesting of objects and arrays accepted; the event object itself is level 1.
MAX_DEPTH = 64
#: Integer timestamps are epoch milliseconds from this value (1973-03-03T09:46:40Z) ...
MIN_EPOCH_MILLIS = 100_000_000_000
#: ... to this one (9999-12-31T23:59:59.999Z). A smaller integer is most likely epoch seconds
#: (today's are about 1.8e9) and a larger one microseconds: neither is read as milliseconds.
MAX_EPOCH_MILLIS = 253_402_300_799_999

NOT_UTF8 = "not_utf8"
EMPTY = "empty"
NOT_JSON = "not_json"
DUPLICATE_FIELD = "duplicate_field"
BAD_NUMBER = "bad_number"
TOO_DEEP = "too_deep"
NOT_AN_OBJECT = "not_an_object"

# timezone.utc, not datetime.UTC (3.11+): this module also runs on EMR's Python 3.9.
_UTC = timezone.utc  # noqa: UP017
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_JSON_WHITESPACE = b" \t\r\n"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<off_hour>\d{2})(?::?(?P<off_minute>\d{2}))?)?",
    re.ASCII,
)

Event = dict[str, Any]


class Rejected(Exception):
    """An event that breaks the contract; ``reason`` is a stable identifier (see the module)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def missing_field(name: str) -> str:
    return f"missing_field:{name}"


def bad_type(name: str) -> str:
    return f"bad_type:{name}"


def empty_field(name: str) -> str:
    return f"empty_field:{name}"


def bad_timestamp(name: str) -> str:
    return f"bad_timestamp:{name}"


def reserved_field(name: str) -> str:
    return f"reserved_field:{name}"


def fold(name: str) -> str:
    """A field name as matched downstream (case-insensitively): :meth:`str.lower`. Two fields of
    one object must not fold alike; the curated output names its columns by the folded name."""
    return name.lower()


class JsonNumber:
    """A JSON number as the producer wrote it: ``text`` (kept verbatim when the event is
    written again) and ``value``, an ``int`` for an integer token (no fraction, no exponent)
    and a ``float`` for any other. Equal when the texts are equal."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: int | float) -> None:
        self.text = text
        self.value = value

    @property
    def is_integer(self) -> bool:
        return isinstance(self.value, int)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"JsonNumber({self.text!r})"


# --- parsing --------------------------------------------------------------------------------


def is_empty(data: bytes) -> bool:
    """Whether ``data`` holds nothing but JSON whitespace (space, tab, CR, LF)."""
    return not data.strip(_JSON_WHITESPACE)


def _integer(text: str) -> JsonNumber:
    if len(text) - text.startswith("-") > MAX_INTEGER_DIGITS:
        raise Rejected(BAD_NUMBER)
    return JsonNumber(text, int(text))


def _fraction(text: str) -> JsonNumber:
    value = float(text)
    if not math.isfinite(value):
        raise Rejected(BAD_NUMBER)
    return JsonNumber(text, value)


def _constant(name: str) -> Any:
    raise Rejected(NOT_JSON)  # NaN, Infinity, -Infinity: not JSON


def _object(pairs: list[tuple[str, Any]]) -> Event:
    result: Event = {}
    seen = set()
    for name, value in pairs:
        folded = fold(name)
        if folded in seen:
            raise Rejected(DUPLICATE_FIELD)
        seen.add(folded)
        result[name] = value
    return result


def _check_tree(value: Any, depth: int) -> None:
    """``too_deep`` past :data:`MAX_DEPTH`, ``not_utf8`` for a lone surrogate anywhere."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise Rejected(NOT_UTF8)
    elif isinstance(value, (dict, list)):
        if depth > MAX_DEPTH:
            raise Rejected(TOO_DEEP)
        if isinstance(value, dict):
            for name, item in value.items():
                if _SURROGATE.search(name):
                    raise Rejected(NOT_UTF8)
                _check_tree(item, depth + 1)
        else:
            for item in value:
                _check_tree(item, depth + 1)


def parse_event(data: bytes) -> Event:
    """``data`` as a JSON object (numbers as :class:`JsonNumber`), or :class:`Rejected` with
    ``not_utf8``, ``empty``, ``not_json``, ``duplicate_field``, ``bad_number``, ``too_deep`` or
    ``not_an_object``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(NOT_UTF8) from exc
    if is_empty(data):
        raise Rejected(EMPTY)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_fraction,
            parse_constant=_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise Rejected(NOT_JSON) from exc
    _check_tree(value, 1)
    if not isinstance(value, dict):
        raise Rejected(NOT_AN_OBJECT)
    return value


# --- timestamps -----------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """``moment`` (timezone-aware) as ISO-8601 UTC with milliseconds: ``2026-11-24T16:05:09.123Z``.

    Raises ``OverflowError`` if converting to UTC leaves years 1 to 9999.
    """
    utc = moment.astimezone(_UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def epoch_millis_to_iso(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds (no plausibility window: for
    Firehose's own arrival times); ``OverflowError`` outside years 1 to 9999."""
    return format_timestamp(_EPOCH + timedelta(milliseconds=epoch_ms))


def parse_instant(value: str | int) -> datetime:
    """A timestamp as a UTC :class:`datetime` truncated to milliseconds; ``ValueError`` if it
    is not one.

    A string is ISO-8601 extended format ``YYYY-MM-DD[T| ]hh:mm[:ss[.f...]][Z|+hh[:mm]|-hh[:mm]]``
    (leading and trailing whitespace ignored, ``t``/``z`` accepted, no offset meaning UTC, an
    offset below 24 hours with minutes below 60); fractional seconds are truncated to
    milliseconds. An integer is epoch milliseconds from :data:`MIN_EPOCH_MILLIS` to
    :data:`MAX_EPOCH_MILLIS`. The instant, in UTC, must fall in years 1 to 9999.
    """
    if isinstance(value, int):
        if not MIN_EPOCH_MILLIS <= value <= MAX_EPOCH_MILLIS:
            raise ValueError("epoch milliseconds out of the plausible range")
        return _EPOCH + timedelta(milliseconds=value)
    match = _ISO_TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an ISO-8601 date-time")
    tz = _UTC
    if match["sign"]:
        off_minute = int(match["off_minute"] or 0)
        if off_minute > 59:
            raise ValueError("offset minutes out of range")
        offset = timedelta(hours=int(match["off_hour"]), minutes=off_minute)
        tz = timezone(-offset if match["sign"] == "-" else offset)  # ValueError from 24 h
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
    try:
        return moment.astimezone(_UTC)
    except OverflowError as exc:
        raise ValueError("out of years 1 to 9999 in UTC") from exc


def timestamp_millis(canonical: str) -> int:
    """Epoch milliseconds of a timestamp as :func:`format_timestamp` writes it."""
    moment = datetime(
        int(canonical[0:4]),
        int(canonical[5:7]),
        int(canonical[8:10]),
        int(canonical[11:13]),
        int(canonical[14:16]),
        int(canonical[17:19]),
        int(canonical[20:23]) * 1000,
        tzinfo=_UTC,
    )
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _timestamp(value: Any, name: str) -> str:
    if isinstance(value, JsonNumber):
        if not value.is_integer:
            raise Rejected(bad_type(name))
        raw: str | int = value.value  # type: ignore[assignment]
    elif isinstance(value, str):
        raw = value
    else:
        raise Rejected(bad_type(name))
    try:
        return format_timestamp(parse_instant(raw))
    except (ValueError, OverflowError) as exc:
        raise Rejected(bad_timestamp(name)) from exc


# --- validation -----------------------------------------------------------------------------


def _text(event: Event, name: str) -> str:
    value = event[name]
    if not isinstance(value, str):
        raise Rejected(bad_type(name))
    value = value.strip()
    if not value:
        raise Rejected(empty_field(name))
    return value


def validate_event(event: Event, required: tuple[str, ...] = REQUIRED_FIELDS) -> Event:
    """``event`` (from :func:`parse_event`) checked against the contract and normalized: a new
    dict, fields in their order; or :class:`Rejected` (see the module docstring).

    ``event_id``, ``event_type`` and ``event_time`` are checked and normalized when, and only
    when, they are in ``required``; ``ingested_at`` and the reserved names always.
    """
    result = dict(event)
    for name in required:
        if event.get(name) is None:
            raise Rejected(missing_field(name))
        if name == EVENT_ID:
            result[name] = _text(event, name)
        elif name == EVENT_TYPE:
            result[name] = _text(event, name).lower()
        elif name == EVENT_TIME:
            result[name] = _timestamp(event[name], name)
    if event.get(INGESTED_AT) is not None:
        result[INGESTED_AT] = _timestamp(event[INGESTED_AT], INGESTED_AT)
    for name in event:
        folded = fold(name)
        if folded == PARTITION_FIELD or (folded == INGESTED_AT and name != INGESTED_AT):
            raise Rejected(reserved_field(folded))
    return result


def check_event(data: bytes, required: tuple[str, ...] = REQUIRED_FIELDS) -> Event:
    """:func:`parse_event` then :func:`validate_event`."""
    return validate_event(parse_event(data), required)


# --- writing --------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """``value`` (as :func:`parse_event` gives, possibly normalized) as compact JSON: numbers
    written with their original text, strings with JSON escapes only where JSON requires them
    (non-ASCII characters kept), fields in their order."""
    parts: list[str] = []
    _write(value, parts.append)
    return "".join(parts)


def _write(value: Any, out: Callable[[str], Any]) -> None:
    if isinstance(value, str):
        out(encode_basestring(value))
    elif isinstance(value, JsonNumber):
        out(value.text)
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, dict):
        out("{")
        for n, (name, item) in enumerate(value.items()):
            if n:
                out(",")
            out(encode_basestring(name))
            out(":")
            _write(item, out)
        out("}")
    elif isinstance(value, list):
        out("[")
        for n, item in enumerate(value):
            if n:
                out(",")
            _write(item, out)
        out("]")
    elif isinstance(value, int):  # a plain int (e.g. a value a caller added)
        out(str(value))
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")
