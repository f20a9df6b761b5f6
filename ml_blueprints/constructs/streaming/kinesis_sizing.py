"""Kinesis Data Streams shard sizing from expected load, with the course notes' limits.

Per shard (provisioned mode): writes up to 1 MB/s or 1,000 records/s; reads up to 2 MB/s
shared by every shared-throughput consumer, and at most 5 ``GetRecords`` calls per second,
so more than 5 polling consumers throttle each other whatever the shard count (use
enhanced fan-out for more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml_blueprints.validation import PropErrors, TypedProps, typed_props

WRITE_MB_PER_SHARD = 1.0
WRITE_RECORDS_PER_SHARD = 1_000
READ_MB_PER_SHARD = 2.0
GET_RECORDS_CALLS_PER_SHARD = 5
#: A sanity bound: far above any sensible provisioned stream (and default account quotas).
MAX_SHARDS = 10_000


@dataclass(frozen=True)
class StreamLoad(TypedProps):
    """Expected peak load on a stream.

    ``read_mb_per_s`` is what *each* consumer reads (usually the write rate: every consumer
    reads the whole stream); ``consumers`` counts shared-throughput consumers (Firehose,
    KCL applications, Lambda event sources without enhanced fan-out).
    """

    write_mb_per_s: float
    write_records_per_s: float
    read_mb_per_s: float = 0.0
    consumers: int = 1


@typed_props
def shards_for(load: StreamLoad) -> int:
    """The number of provisioned shards ``load`` needs (at least 1).

    Raises one ``ValueError`` for impossible input: negative or non-finite rates, no load at
    all, fewer than 1 or more than 5 shared-throughput consumers, or a load needing more
    than :data:`MAX_SHARDS` shards.
    """
    errors = PropErrors("shards_for")
    rates = {
        "write_mb_per_s": load.write_mb_per_s,
        "write_records_per_s": load.write_records_per_s,
        "read_mb_per_s": load.read_mb_per_s,
    }
    for name, value in rates.items():
        errors.require(
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0,
            name,
            value,
            "a finite number >= 0",
        )
    errors.raise_if_any()
    errors.require(
        load.write_mb_per_s > 0 or load.write_records_per_s > 0,
        "write_mb_per_s/write_records_per_s",
        (load.write_mb_per_s, load.write_records_per_s),
        "some write load: a stream nobody writes to needs no sizing",
    )
    errors.require(
        isinstance(load.consumers, int)
        and not isinstance(load.consumers, bool)
        and 1 <= load.consumers <= GET_RECORDS_CALLS_PER_SHARD,
        "consumers",
        load.consumers,
        f"1 to {GET_RECORDS_CALLS_PER_SHARD} shared-throughput consumers (each shard serves "
        f"{GET_RECORDS_CALLS_PER_SHARD} GetRecords calls/s); use enhanced fan-out for more",
    )
    errors.raise_if_any()
    shards = max(
        1,
        math.ceil(load.write_mb_per_s / WRITE_MB_PER_SHARD),
        math.ceil(load.write_records_per_s / WRITE_RECORDS_PER_SHARD),
        math.ceil(load.read_mb_per_s * load.consumers / READ_MB_PER_SHARD),
    )
    errors.require(
        shards <= MAX_SHARDS,
        "load",
        load,
        f"a load needing at most {MAX_SHARDS} shards (this needs {shards})",
    )
    errors.raise_if_any()
    return shards
