"""The real-time layer: Kinesis Data Streams -> Firehose -> the lake, and shard sizing."""

from ml_blueprints.constructs.streaming.kinesis_sizing import StreamLoad, shards_for
from ml_blueprints.constructs.streaming.streaming_ingestion import (
    DEFAULT_COLUMNS,
    Column,
    Compression,
    RecordFormat,
    StreamingIngestion,
)

__all__ = [
    "DEFAULT_COLUMNS",
    "Column",
    "Compression",
    "RecordFormat",
    "StreamLoad",
    "StreamingIngestion",
    "shards_for",
]
