"""The next window of a TableExport's incremental export: a Lambda handler its state
machine calls before each incremental export.

DynamoDB exports the changes between two times 15 minutes to 24 hours apart, inside the
table's point-in-time recovery period. A window starts where the last export ended (the
watermark) and ends at the earlier of 24 hours later and the latest restorable time, so
windows chain with no gap or overlap however late a run is, and a run more than 24 hours
behind catches up window by window instead of asking DynamoDB for one it refuses:

- ``INCREMENTAL``: export ``from`` (the watermark, exactly as recorded) to ``to``; ``next``
  is ``EXPORT_AGAIN`` when at least another 15 minutes are ready after ``to`` (the state
  machine then exports the next window in the same run), else ``DONE``.
- ``WAIT``: less than 15 minutes are ready since the watermark (a run started right after
  another): nothing to export yet; the watermark stays.
- ``FULL``: the watermark is older than the earliest restorable time (recovery was switched
  off and on again, or no export for longer than the recovery period): only a full export
  covers what happened since.

Recovery switched off raises :class:`PointInTimeRecoveryUnavailable`, which the state
machine keeps under the export's error prefix. Standard library only: the bundle is this
file alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

#: DynamoDB's limits for an incremental export's period.
MAX_WINDOW = timedelta(hours=24)
MIN_WINDOW = timedelta(minutes=15)
_EPOCH = re.compile(r"\d+(\.\d+)?")


class PointInTimeRecoveryUnavailable(Exception):
    """The table has no point-in-time recovery (now): DynamoDB cannot export it."""


def parse_time(value: object) -> datetime:
    """A timestamp as Step Functions or DynamoDB give it: ISO 8601 (``Z`` or an offset;
    no offset is UTC) or seconds since the epoch (a number, or a string of one)."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise ValueError(f"not a timestamp: {value!r}")


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond (truncated, never rounded up: a
    window never ends later than computed)."""
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def plan(last_end: object, recovery: Mapping[str, Any]) -> dict[str, str]:
    """The window after ``last_end`` (the watermark), given the table's
    ``PointInTimeRecoveryDescription`` (``PointInTimeRecoveryStatus``,
    ``EarliestRestorableDateTime``, ``LatestRestorableDateTime``)."""
    status = recovery.get("PointInTimeRecoveryStatus")
    if status != "ENABLED" or "LatestRestorableDateTime" not in recovery:
        raise PointInTimeRecoveryUnavailable(
            f"point-in-time recovery is {status or 'not described'}: DynamoDB exports only "
            "from it; enable it and the next run exports the whole table"
        )
    start = parse_time(last_end)
    latest = parse_time(recovery["LatestRestorableDateTime"])
    earliest = recovery.get("EarliestRestorableDateTime")
    if earliest is not None and start < parse_time(earliest):
        return {
            "action": "FULL",
            "reason": f"the last export ended at {format_time(start)}, before the earliest "
            f"restorable time {format_time(parse_time(earliest))}",
        }
    # The end as written (to the millisecond) is the one DynamoDB checks.
    end_text = format_time(min(start + MAX_WINDOW, latest))
    end = parse_time(end_text)
    if end - start < MIN_WINDOW:
        return {
            "action": "WAIT",
            "reason": f"{max(latest - start, timedelta(0))} ready since the last export, "
            f"less than the {MIN_WINDOW} DynamoDB exports at least",
        }
    return {
        "action": "INCREMENTAL",
        "from": last_end if isinstance(last_end, str) else format_time(start),
        "to": end_text,
        "next": "EXPORT_AGAIN" if latest - end >= MIN_WINDOW else "DONE",
    }


def handler(event: Mapping[str, Any], context: object) -> dict[str, str]:
    """``{"lastEnd": <watermark>, "recovery": <ContinuousBackupsDescription>}`` from the
    state machine; answers :func:`plan`."""
    description = event.get("recovery") or {}
    recovery = description.get("PointInTimeRecoveryDescription") or {}
    return plan(event["lastEnd"], recovery)
