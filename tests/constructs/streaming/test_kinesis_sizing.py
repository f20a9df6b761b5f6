"""Shard sizing from expected load, with the course notes' per-shard limits."""

from __future__ import annotations

import math

import pytest

from ml_blueprints.constructs import StreamLoad, shards_for


@pytest.mark.parametrize(
    ("load", "shards"),
    [
        (StreamLoad(write_mb_per_s=0.1, write_records_per_s=50), 1),
        (StreamLoad(write_mb_per_s=1.0, write_records_per_s=1000), 1),
        (StreamLoad(write_mb_per_s=1.01, write_records_per_s=10), 2),
        (StreamLoad(write_mb_per_s=0.5, write_records_per_s=4500), 5),  # records-bound
        (StreamLoad(write_mb_per_s=5.5, write_records_per_s=2000), 6),  # bytes-bound
        (StreamLoad(write_mb_per_s=3, write_records_per_s=100, read_mb_per_s=3, consumers=3), 5),
        (
            StreamLoad(
                write_mb_per_s=5.5, write_records_per_s=2000, read_mb_per_s=5.5, consumers=3
            ),
            9,
        ),  # reads: 16.5 MB/s over 2 MB/s per shard
        (StreamLoad(write_mb_per_s=0, write_records_per_s=1), 1),
    ],
)
def test_shards_for_load(load: StreamLoad, shards: int) -> None:
    assert shards_for(load) == shards


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (StreamLoad(write_mb_per_s=-1, write_records_per_s=10), "write_mb_per_s=-1"),
        (StreamLoad(write_mb_per_s=math.nan, write_records_per_s=10), "write_mb_per_s=nan"),
        (StreamLoad(write_mb_per_s=1, write_records_per_s=math.inf), "write_records_per_s=inf"),
        (StreamLoad(write_mb_per_s=0, write_records_per_s=0), "some write load"),
        (StreamLoad(write_mb_per_s=1, write_records_per_s=1, consumers=0), "consumers=0"),
        (StreamLoad(write_mb_per_s=1, write_records_per_s=1, consumers=6), "enhanced fan-out"),
        (StreamLoad(write_mb_per_s=20_000, write_records_per_s=1), "at most 10000 shards"),
    ],
)
def test_impossible_loads_are_refused(load: StreamLoad, expected: str) -> None:
    with pytest.raises(ValueError, match=r"^shards_for: invalid prop") as error:
        shards_for(load)
    assert expected in str(error.value)
