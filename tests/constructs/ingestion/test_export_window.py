"""The TableExport window function (``ml_blueprints/runtime/export_window.py``), called as
Step Functions calls it: windows of 15 minutes to 24 hours that start at the watermark,
capped at 24 hours and at the latest restorable time, a wait below 15 minutes, a full
export when the watermark left the recovery period, an error without point-in-time
recovery; timestamps in the forms Step Functions and DynamoDB give; and, as properties, that
consecutive windows chain without gap or overlap and never break DynamoDB's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_blueprints.runtime.export_window import (
    MAX_WINDOW,
    MIN_WINDOW,
    PointInTimeRecoveryUnavailable,
    format_time,
    handler,
    parse_time,
    plan,
)

EARLIEST = "2026-10-25T10:15:00Z"


def _recovery(latest: str, earliest: str = EARLIEST, status: str = "ENABLED") -> dict[str, Any]:
    return {
        "PointInTimeRecoveryStatus": status,
        "EarliestRestorableDateTime": earliest,
        "LatestRestorableDateTime": latest,
    }


def _event(last_end: Any, latest: str, **recovery: str) -> dict[str, Any]:
    """The payload the state machine sends: the watermark and DescribeContinuousBackups'
    ``ContinuousBackupsDescription``."""
    return {
        "lastEnd": last_end,
        "recovery": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": _recovery(latest, **recovery),
        },
    }


def test_a_window_runs_from_the_watermark_to_the_latest_restorable_time() -> None:
    answer = handler(_event("2026-11-23T10:15:03Z", "2026-11-24T10:10:00Z"), None)
    assert answer == {
        "action": "INCREMENTAL",
        "from": "2026-11-23T10:15:03Z",  # exactly as recorded: no gap, no overlap
        "to": "2026-11-24T10:10:00Z",
        "next": "DONE",
    }


def test_a_daily_run_a_little_late_is_capped_at_24_hours_and_catches_up() -> None:
    # The previous export ended at 02:00 and this run's latest time is 02:07 the next day:
    # DynamoDB refuses 24 h 7 min, so the window ends 24 hours on; 7 minutes are left for
    # the next run (less than 15: nothing more at once).
    answer = plan("2026-11-23T02:00:00Z", _recovery("2026-11-24T02:07:00Z"))
    assert answer == {
        "action": "INCREMENTAL",
        "from": "2026-11-23T02:00:00Z",
        "to": "2026-11-24T02:00:00Z",
        "next": "DONE",
    }
    # Three days behind (two failed runs): a 24-hour window, and another one at once.
    answer = plan("2026-11-21T02:00:00Z", _recovery("2026-11-24T02:07:00Z"))
    assert (answer["to"], answer["next"]) == ("2026-11-22T02:00:00Z", "EXPORT_AGAIN")


def test_less_than_15_minutes_since_the_last_export_waits() -> None:
    answer = plan("2026-11-24T10:00:00Z", _recovery("2026-11-24T10:14:59Z"))
    assert answer["action"] == "WAIT" and "from" not in answer and "to" not in answer
    # A watermark later than the latest restorable time (clocks) waits too.
    assert plan("2026-11-24T10:20:00Z", _recovery("2026-11-24T10:10:00Z"))["action"] == "WAIT"
    answer = plan("2026-11-24T10:00:00Z", _recovery("2026-11-24T10:15:00Z"))
    assert (answer["action"], answer["to"]) == ("INCREMENTAL", "2026-11-24T10:15:00Z")


def test_a_watermark_older_than_the_recovery_period_needs_a_full_export() -> None:
    answer = plan("2026-10-25T10:14:59Z", _recovery("2026-11-24T10:10:00Z"))
    assert answer["action"] == "FULL"
    assert "2026-10-25T10:15:00Z" in answer["reason"]
    assert plan(EARLIEST, _recovery("2026-11-24T10:10:00Z"))["action"] == "INCREMENTAL"


@pytest.mark.parametrize(
    "description",
    [
        {
            "ContinuousBackupsStatus": "DISABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        },
        # Enabled a moment ago: no restorable times yet.
        {"PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED"}},
        {"ContinuousBackupsStatus": "DISABLED"},  # no recovery description at all
    ],
)
def test_without_point_in_time_recovery_it_raises_a_named_error(
    description: dict[str, Any],
) -> None:
    # Step Functions names a function's error after the exception's class: the catch sees
    # "PointInTimeRecoveryUnavailable" and the run keeps it under the error prefix.
    event = {"lastEnd": "2026-11-23T10:15:03Z", "recovery": description}
    with pytest.raises(PointInTimeRecoveryUnavailable, match="point-in-time recovery is"):
        handler(event, None)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-24T10:15:03Z", datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-24T10:15:03.250Z", datetime(2026, 11, 24, 10, 15, 3, 250000, tzinfo=UTC)),
        ("2026-11-24T11:15:03+01:00", datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-24T10:15:03", datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)),
        (1795515303, datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)),
        (1795515303.25, datetime(2026, 11, 24, 10, 15, 3, 250000, tzinfo=UTC)),
        ("1795515303", datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)),
    ],
)
def test_timestamps_in_every_form_step_functions_and_dynamodb_give(
    given: object, expected: datetime
) -> None:
    assert parse_time(given) == expected


@pytest.mark.parametrize("bad", [True, None, "yesterday", ""])
def test_what_is_not_a_timestamp_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_time(bad)


def test_the_end_is_written_in_utc_and_never_later_than_computed() -> None:
    assert format_time(datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)) == "2026-11-24T10:15:03Z"
    moment = datetime(2026, 11, 24, 10, 15, 3, 999999, tzinfo=UTC)
    assert format_time(moment) == "2026-11-24T10:15:03.999Z"  # truncated, not rounded up
    # An epoch watermark is answered as ISO 8601 (DynamoDB takes both).
    answer = plan(1795515303, _recovery("2026-11-24T12:00:00Z"))
    assert answer["from"] == "2026-11-24T10:15:03Z"


_START = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=200, database=None, deadline=None)
@given(
    # Seconds after the start of each run's latest restorable time: runs late, early,
    # skipped (days apart), or right after one another.
    st.lists(st.integers(min_value=0, max_value=5 * 24 * 3600), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=999_999),
)
def test_windows_chain_without_gap_or_overlap_within_dynamodb_limits(
    steps: list[int], microseconds: int
) -> None:
    """However the runs fall, every window DynamoDB is asked for is 15 minutes to 24 hours
    inside the recovery period, each starts where the last one ended, and after each run
    less than 15 minutes are left to export (the state machine exports again while the
    answer says EXPORT_AGAIN)."""
    # The first watermark to the microsecond, as a recorded end might come.
    watermark = (_START + timedelta(microseconds=microseconds)).isoformat().replace("+00:00", "Z")
    latest = _START
    for step in steps:
        latest += timedelta(seconds=step)
        recovery = _recovery(format_time(latest), earliest=format_time(_START))
        for _ in range(10):  # at most 5 days behind: 6 windows
            answer = plan(watermark, recovery)
            if answer["action"] != "INCREMENTAL":
                assert answer["action"] == "WAIT"
                break
            start, end = parse_time(answer["from"]), parse_time(answer["to"])
            assert answer["from"] == watermark  # no gap, no overlap
            assert MIN_WINDOW <= end - start <= MAX_WINDOW
            assert start >= _START and end <= latest  # inside the recovery period
            watermark = answer["to"]  # what DescribeExport gives back and the run records
            if answer["next"] == "DONE":
                break
        else:
            raise AssertionError("the run never caught up")
        assert latest - parse_time(watermark) < MIN_WINDOW or latest < parse_time(watermark)


@settings(max_examples=100, database=None, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
    )
)
def test_a_written_end_reads_back_as_the_same_millisecond(moment: datetime) -> None:
    text = format_time(moment)
    assert text.endswith("Z")
    assert parse_time(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
