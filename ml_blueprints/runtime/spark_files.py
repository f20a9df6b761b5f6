"""Input files and the ledger of the Spark job (:mod:`spark_etl`): which files a run reads,
which it has processed, and the quarantine output of runs that failed before committing.

Shipped beside the job (it imports nothing from the project); Python 3.9+. Paths are Hadoop
paths (``s3://``, ``file:``, ...), reached through the session's Hadoop file system.

The ledger is ``<quarantine path>/_ledger/<batch>.txt``: one small file per committed run,
listing the input files that run processed (one JSON string a line), written in one go after
the run's outputs. A run's quarantine output is ``<quarantine path>/batch=<batch>/``; it counts once
the ledger has that batch's entry, and :func:`remove_uncommitted_batches` deletes it otherwise
(the run failed after writing it: its input is processed again).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote

from pyspark.sql import SparkSession

#: The partition of the quarantine output per run.
BATCH_COLUMN = "batch"
#: Where under the quarantine path the ledger of processed input files is kept.
LEDGER_DIRECTORY = "_ledger"

_GLOB = re.compile(r"([\\{}\[\]*?])")


def filesystem(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """(the Hadoop file system of ``path``, ``path`` as a Hadoop ``Path``), through the JVM."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)  # type: ignore[union-attr]
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    return hadoop_path.getFileSystem(conf), hadoop_path


def literal(path: str) -> str:
    """``path`` with the characters Spark reads as a glob pattern escaped."""
    return _GLOB.sub(r"\\\1", path)


def child(path: str, name: str) -> str:
    """``name`` under directory ``path``."""
    return f"{path.rstrip('/')}/{name}"


def qualified(spark: SparkSession, path: str) -> str:
    """``path`` as the file system names it (scheme and authority, e.g. ``file:/tmp/x``)."""
    fs, hadoop_path = filesystem(spark, path)
    return str(fs.makeQualified(hadoop_path).toString())


def is_under(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or in it; both qualified, ``file:///`` and ``file:/``
    alike."""
    path, directory = (p.replace(":///", ":/", 1).rstrip("/") for p in (path, directory))
    return path == directory or path.startswith(directory + "/")


def list_input_files(spark: SparkSession, input_path: str) -> list[str]:
    """Every file under ``input_path`` (recursively; names starting with ``_`` or ``.``
    skipped, as Spark does), as Hadoop path strings, sorted; none if the path is missing."""
    fs, root = filesystem(spark, input_path)
    if not fs.exists(root):
        return []
    listed = spark.read.option("recursiveFileLookup", "true").text(input_path).inputFiles()
    return sorted(unquote(uri) for uri in listed)  # inputFiles() gives URIs


def read_ledger(spark: SparkSession, quarantine_path: str) -> tuple[set[str], set[str]]:
    """(the input files the ledger lists, the batch ids of its entries)."""
    fs, ledger = filesystem(spark, child(quarantine_path, LEDGER_DIRECTORY))
    if not fs.exists(ledger):
        return set(), set()
    names = [status.getPath().getName() for status in fs.listStatus(ledger) if status.isFile()]
    batches = {name.removesuffix(".txt") for name in names if name.endswith(".txt")}
    if not batches:
        return set(), set()
    pattern = child(literal(quarantine_path), f"{LEDGER_DIRECTORY}/*.txt")
    rows = spark.read.text(pattern).collect()
    return {json.loads(row.value) for row in rows if row.value}, batches


def write_ledger_entry(
    spark: SparkSession, quarantine_path: str, batch: str, files: Sequence[str]
) -> None:
    """Record ``files`` as processed by ``batch``: one small file, written in one go, one
    JSON string a line (a path may hold any character)."""
    fs, entry = filesystem(spark, child(quarantine_path, f"{LEDGER_DIRECTORY}/{batch}.txt"))
    stream = fs.create(entry, True)
    try:
        text = "".join(json.dumps(name) + "\n" for name in files)
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def remove_uncommitted_batches(
    spark: SparkSession, quarantine_path: str, committed: set[str]
) -> list[str]:
    """Delete the quarantine output of runs that failed before their ledger entry (their
    input is processed again); return their batch ids."""
    fs, root = filesystem(spark, quarantine_path)
    if not fs.exists(root):
        return []
    removed = []
    prefix = f"{BATCH_COLUMN}="
    for status in fs.listStatus(root):
        name = status.getPath().getName()
        batch = name[len(prefix) :]
        if status.isDirectory() and name.startswith(prefix) and batch not in committed:
            fs.delete(status.getPath(), True)
            removed.append(batch)
    return removed


def batch_id(files: Iterable[str]) -> str:
    """A run's id: from the files it processes, so a retry of the same files reuses it."""
    return hashlib.sha256("\n".join(sorted(files)).encode("utf-8")).hexdigest()[:20]
