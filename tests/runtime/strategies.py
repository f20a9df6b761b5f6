"""Hypothesis strategies for events, payloads and raw lines, shared by the property tests of the
event contract, the Firehose transform and the Spark job.

A generated line is a :class:`Line`: rendered to bytes with a namespace prefix put inside its
``event_id`` (after any leading whitespace), so that many generated inputs can share one Spark
run without their events meeting. JSON text is written here, not with the code under test:
numbers with the text drawn for them, objects as lists of pairs (so a name can repeat), strings
escaped or not at random.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

# --- JSON values as trees ---------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A JSON number token, by its text."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as pairs, in order; names may repeat (a duplicate field)."""

    pairs: tuple[tuple[str, Any], ...]


def to_json(value: Any, ascii_only: bool = False) -> str:
    """A tree of :class:`Num`, :class:`Obj`, lists, strings, booleans and None as JSON text."""
    if isinstance(value, Num):
        return value.text
    if isinstance(value, Obj):
        return (
            "{"
            + ",".join(
                f"{json.dumps(name, ensure_ascii=ascii_only)}:{to_json(item, ascii_only)}"
                for name, item in value.pairs
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(to_json(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


# Field names: case variants of one another, the job's own column names, odd characters.
NAMES = (
    "amount",
    "Amount",
    "AMOUNT",
    "user",
    "User",
    "id",
    "tags",
    "score",
    "note",
    "café",
    "CAFÉ",
    "a.b",
    "x y",
    "",
    "straße",
    "STRASSE",
    "İd",
    "event_date",
    "Event_Date",
    "Ingested_At",
    "EVENT_ID",
    "Event_Type",
    "_corrupt_record",
    "__etl_rank",
    "__row",
    "__check",
    "quarantine_reason",
    "batch",
)
SAFE_NAMES = ("amount", "user", "tags", "score", "note", "café", "a.b", "x y", "__row")

SPECIAL_NUMBERS = (
    "12345678901234567.89",
    "0.10000000000000000001",
    "1E5",
    "-0",
    "-0.0",
    "2.5e-3",
    "1e-400",
    "9007199254740993",
    "9007199254740993.0",
    "123456789012345678901234567890",
    "1e400",  # out of the double range: bad_number
    "1" * 39,  # 39 digits: bad_number
)

numbers = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.integers(-(2**64), 2**64).map(str),
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.sampled_from(SPECIAL_NUMBERS),
).map(Num)

strings = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", " ", "日本語 ✓", "a\nb", '"q"', "\\", "\u2028", "\ud800"]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)


# Mostly names that never collide, now and then any (case variants, the job's own names).
names = st.one_of(st.sampled_from(SAFE_NAMES), st.sampled_from(SAFE_NAMES), st.sampled_from(NAMES))


def objects(values: st.SearchStrategy[Any]) -> Any:
    return st.dictionaries(names, values, max_size=3).map(lambda d: Obj(tuple(d.items())))


json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), objects(inner)),
    max_leaves=5,
)
# Valid more often: names that never collide, no surrogates, no bad numbers.
safe_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        numbers.filter(lambda n: n.text not in ("1e400", "1" * 39)),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(SAFE_NAMES), inner, max_size=3).map(
            lambda d: Obj(tuple(d.items()))
        ),
    ),
    max_leaves=5,
)

# --- timestamps -------------------------------------------------------------------------------

BASE = datetime(2026, 11, 24, 12, tzinfo=UTC)
EXTREMES = (
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1582, 10, 4, 23, 59, tzinfo=UTC),
    datetime(1899, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
)
instants = st.one_of(
    st.integers(-3 * 86_400_000, 3 * 86_400_000).map(lambda ms: BASE + timedelta(milliseconds=ms)),
    st.sampled_from(EXTREMES),
)


# The strategies the composites below draw from, built once: a strategy built in a composite
# is built again at every draw, and Hypothesis works out its properties again each time.
_offsets = st.sampled_from([None, 0, 60, -90, 330, -720, 14 * 60])
_separators = st.sampled_from(["T", " ", "t"])
_digit = st.integers(0, 9)
_sub_micro = st.integers(0, 999)
_zones = st.sampled_from(["", "Z", "z"])


@st.composite
def iso_timestamps(draw: st.DrawFn) -> str:
    """A timestamp string, valid (mostly) or not: separators, fraction digits, offsets."""
    moment = draw(instants)
    offset_minutes = draw(_offsets)
    if offset_minutes is not None:
        try:
            moment = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
        except OverflowError:
            offset_minutes = None
    sep = draw(_separators)
    digits = draw(_digit)
    fraction = f"{moment.microsecond:06d}{draw(_sub_micro):03d}"[:digits]
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{sep}"
    text += f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    if digits:
        text += "." + fraction
    if offset_minutes is None:
        text += draw(_zones)
    elif offset_minutes == 0 and draw(st.booleans()):
        text += "Z"
    else:
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        text += draw(
            st.sampled_from(
                [f"{sign}{hours:02d}:{minutes:02d}", f"{sign}{hours:02d}{minutes:02d}"]
                + ([f"{sign}{hours:02d}"] if not minutes else [])
            )
        )
    if draw(_digit) == 0:  # now and then, break it
        text = draw(
            st.sampled_from(
                [
                    text.replace("-11-", "-13-"),
                    text[:10],
                    text + "x",
                    text.replace(":", ";", 1),
                    "2026-11-24T24:00:00Z",
                    "2026-02-30T00:00:00Z",
                    "2026-11-24T10:00:00+24:00",
                    "2026-11-24T10:00:00+01:60",
                    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
                    "yesterday",
                ]
            )
        )
    if draw(_digit) == 0:
        text = f" {text}\t"
    return text


epoch_millis = st.one_of(
    st.integers(1_600_000_000_000, 1_900_000_000_000),  # plausible milliseconds
    st.integers(1_600_000_000, 1_900_000_000),  # epoch seconds: rejected
    st.sampled_from([0, -1, 99_999_999_999, 100_000_000_000, 253_402_300_799_999, 10**15]),
)
timestamps = st.one_of(
    iso_timestamps(),
    iso_timestamps(),
    iso_timestamps(),
    epoch_millis.map(lambda ms: Num(str(ms))),
    st.sampled_from([Num("1795536309123.0"), True, None, "", "  ", Obj(()), [1]]),
)

# --- events and lines -------------------------------------------------------------------------

MISSING = object()


@dataclass(frozen=True)
class Line:
    """One input line: an event (``id_text`` the core of a string ``event_id``, spliced in by
    :meth:`render` with a prefix) or raw bytes (``raw``)."""

    fields: tuple[tuple[str, Any], ...] = ()
    id_core: str | None = None  # the event_id is " " * lead + prefix + core + " " * trail
    id_lead: str = ""
    id_trail: str = ""
    raw: bytes | None = None
    ascii_only: bool = False

    def render(self, prefix: str = "") -> bytes:
        if self.raw is not None:
            return self.raw
        pairs = list(self.fields)
        if self.id_core is not None:
            value = f"{self.id_lead}{prefix}{self.id_core}{self.id_trail}"
            pairs = [
                ("event_id", value) if name == "event_id" else (name, item) for name, item in pairs
            ]
        return to_json(Obj(tuple(pairs)), self.ascii_only).encode("utf-8", "surrogatepass")


def _valid_time(text: Any) -> bool:
    from ml_blueprints.runtime.event_contract import parse_instant

    try:
        parse_instant(text)
    except (ValueError, TypeError):
        return False
    return True


def _ingested_at(last: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(MISSING),
        st.just(MISSING),
        st.just(MISSING),
        st.none(),
        iso_timestamps().filter(_valid_time),
        iso_timestamps().filter(_valid_time),
        last,
    )


# What the composite below draws from, built once (see iso_timestamps above).
_whitespace = st.sampled_from(["", "", "", " ", "\t", "\u3000"])
_id_cores = st.sampled_from(["e1", "e2", "e3", "E1", "é4", "id with space"])
_bad_ids = st.sampled_from([MISSING, None, "", "  ", Num("42"), ["e1"]])
_types = st.sampled_from(["click", " Page_View ", "VIEW", "purchase"])
_bad_types = st.sampled_from([MISSING, None, "", " ", Num("7"), Obj(())])
_event_times = {True: iso_timestamps(), False: timestamps}
_ingested_ats = {True: _ingested_at(st.just(MISSING)), False: _ingested_at(timestamps)}
_payloads = {
    True: st.dictionaries(st.sampled_from(SAFE_NAMES), safe_values, max_size=3),
    False: st.dictionaries(names, json_values, max_size=3),
}


@st.composite
def events(draw: st.DrawFn, valid_bias: bool = False) -> Line:
    """An event line: required fields mostly right, a payload of generated fields."""
    id_choice = draw(st.integers(0, 19))
    id_core: str | None = None
    id_lead = id_trail = ""
    if id_choice < 17 or valid_bias:
        id_core = draw(_id_cores)
        id_lead, id_trail = draw(_whitespace), draw(_whitespace)
        event_id: Any = "placeholder"
    else:
        event_id = draw(_bad_ids)
    event_type: Any = draw(_types if valid_bias or draw(_digit) else _bad_types)
    event_time: Any = draw(_event_times[valid_bias])
    if valid_bias and not _valid_time(event_time):
        event_time = "2026-11-24T16:05:09Z"
    ingested_at: Any = draw(_ingested_ats[valid_bias])
    pairs: list[tuple[str, Any]] = []
    for name, value in (
        ("event_id", event_id),
        ("event_type", event_type),
        ("event_time", event_time),
        ("ingested_at", ingested_at),
    ):
        if value is not MISSING:
            pairs.append((name, value))
    payload = draw(_payloads[valid_bias])
    if not valid_bias and draw(st.integers(0, 19)) == 0:  # the same name twice
        payload = [*payload.items(), *payload.items()]
    pairs.extend(payload.items() if isinstance(payload, dict) else payload)
    order = draw(st.permutations(range(len(pairs))))
    return Line(
        fields=tuple(pairs[i] for i in order),
        id_core=id_core,
        id_lead=id_lead,
        id_trail=id_trail,
        ascii_only=draw(st.booleans()),
    )


garbage = st.one_of(
    st.binary(max_size=12),
    st.text(max_size=12).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"not json",
            b'{"event_id": "t1", "event_type": "cl',
            b"[1, 2]",
            b"null",
            b'"a string"',
            b"\xff\xfe{}",
            b'{"a": 1} {"b": 2}',
            b'{"x": NaN}',
            b"\xef\xbb\xbf{}",  # a byte-order mark
            b"",
            b"   ",
            b" \t ",
        ]
    ),
).map(lambda raw: Line(raw=raw.replace(b"\n", b" ").replace(b"\r", b" ")))
lines = st.one_of(events(), events(), events(), events(valid_bias=True), garbage)
