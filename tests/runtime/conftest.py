"""A local Spark session for the runtime tests, on a machine with or without Java.

Which Java runs it, with which options, and the archive of Spark's classes that makes its
start faster: tests/runtime/spark_jvm.py. The session is small (``local[2]``, 1 shuffle
partition, no UI, no Hive), binds to the loopback address only and keeps its scratch space and
warehouse in a temporary directory.
It starts in a background thread when the test session starts (for the whole suite) or once
the tests are collected, and the module fixtures registered with :func:`prefetch` run their
Spark jobs in that thread too, while the main process runs the tests before the Spark ones.
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from py4j.java_gateway import JVMView
from pyspark.sql import SparkSession

from tests.conftest import ROOT
from tests.runtime.spark_jvm import JAVA_OPTIONS, ensure_java, sharing_options


def start_session(scratch: Path, class_archive: list[str] | None = None) -> SparkSession:
    """A small local SparkSession (see the module docstring), warmed up by one tiny job.

    ``class_archive``: the JVM's class-data-sharing options; by default, those that map the
    archive `make test` builds (tests/runtime/spark_jvm.py), if it exists.
    """
    ensure_java()
    sharing = sharing_options() if class_archive is None else class_archive
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname lookup
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("ml-blueprints-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        # Tiny test data: compiling generated code costs more than it saves, for whole stages
        # and for each projection (about 2 s of the JVM's CPU in the suite); Spark's
        # interpreted path computes the same results.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config(
            "spark.driver.extraJavaOptions",
            " ".join([f"-Djava.io.tmpdir={scratch}", *JAVA_OPTIONS, *sharing]),
        )
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    cache_class_names(session)
    session.range(10).count()  # the first job pays for class loading
    return session


class NameCachingJVMView(JVMView):
    """A JVM view that resolves each simple name once.

    PySpark looks its Java classes up by simple name (``functions`` at every ``F.col``,
    ``PythonUtils``, ``SparkSession``): each lookup is a round trip in which the JVM tries the
    name in every package the view imports, and every miss searches all of Spark's jars (about
    1,500 lookups in the runtime tests, 1.3 s of the JVM's CPU). A name resolves to the same
    class or package for the whole session (the tests add no imports), so its answer is kept:
    the class, or the package py4j answers for a name that is no class (as it would again). A
    lookup that fails (the gateway gone) raises and keeps nothing.
    """

    def __getattr__(self, name: str) -> Any:
        resolved: dict[str, Any] = self.__dict__.setdefault("_resolved", {})
        if name not in resolved:
            resolved[name] = super().__getattr__(name)
        return resolved[name]


def cache_class_names(session: SparkSession) -> None:
    """Make the session's JVM view a :class:`NameCachingJVMView` (PySpark and the tests reach
    the JVM through this one object)."""
    view = session.sparkContext._jvm
    if type(view) is JVMView:
        view.__class__ = NameCachingJVMView


_warming: dict[str, Any] = {}

#: A Spark job's inputs, written in the main process: it returns the job, run on the session.
Prepare = Callable[[Path], Callable[[SparkSession], Any]]
#: Module fixtures' Spark jobs that run in the warm-up thread, right after the session has
#: started, so the JVM works while the main process runs the tests before the Spark ones:
#: {test file: its jobs' preparations, in order}.
_PREFETCH: dict[str, list[Prepare]] = {}


def prefetch(prepare: Prepare) -> Prepare:
    """Register a module fixture's Spark job (see :func:`prefetched`) to run in the warm-up
    thread when its test file is selected."""
    test_file = Path(prepare.__code__.co_filename).resolve()
    _PREFETCH.setdefault(test_file.relative_to(ROOT).as_posix(), []).append(prepare)
    return prepare


def prefetched(prepare: Prepare, spark: SparkSession, root: Path) -> Any:
    """What the job of ``prepare`` returned: from the warm-up thread if it ran it there
    (waiting for it to finish), or run here on ``spark`` with inputs under ``root``."""
    future: Future[Any] | None = _warming.get("prefetched", {}).get(prepare)
    if future is None:
        return prepare(root)(spark)
    return future.result(timeout=600)


def start_spark(class_archive: list[str] | None = None, scratch: Path | None = None) -> None:
    """Start the JVM and the session in a background thread, so the seconds it takes overlap
    with the collection and the tests that run before the Spark ones (the root conftest calls
    this); the thread then runs the jobs :func:`prefetch_jobs` hands it. ``class_archive``
    as for :func:`start_session`; ``scratch``: a new temporary directory by default."""
    if "ready" in _warming:
        return
    scratch = scratch or Path(tempfile.mkdtemp(prefix="mlbp-spark-"))
    _warming["scratch"] = scratch
    ready = threading.Event()
    jobs: queue.Queue[tuple[Callable[[SparkSession], Any], Future[Any]] | None] = queue.Queue()

    def start() -> None:
        try:
            _warming["session"] = start_session(scratch, class_archive)
        except Exception as error:  # reported by the fixture, in the test that needs it
            _warming["error"] = error
        finally:
            ready.set()
        while (item := jobs.get()) is not None:
            job, future = item
            if "error" in _warming:
                future.set_exception(_warming["error"])
                continue
            try:
                future.set_result(job(_warming["session"]))
            except Exception as error:  # reported by the fixture that waits for it
                future.set_exception(error)

    _warming.update(ready=ready, jobs=jobs, prefetched={})
    threading.Thread(target=start, name="spark-warm-up", daemon=True).start()


def prefetch_jobs(selected: set[str]) -> None:
    """Hand the registered jobs (:func:`prefetch`) of the ``selected`` test files to the
    warm-up thread, in order, their inputs written here first (once the tests are known)."""
    start_spark()
    prefetched_futures: dict[Prepare, Future[Any]] = _warming["prefetched"]
    for test_file in sorted(selected & set(_PREFETCH)):
        for n, prepare in enumerate(_PREFETCH[test_file]):
            if prepare in prefetched_futures:
                continue
            job = prepare(_warming["scratch"] / f"{Path(test_file).stem}-{n}")
            prefetched_futures[prepare] = future = Future()
            _warming["jobs"].put((job, future))
    _warming["jobs"].put(None)  # no more jobs: the thread ends when these are done


def prefetched_results() -> list[Future[Any]]:
    """The results of the jobs handed to the warm-up thread, in the order they run."""
    return list(_warming.get("prefetched", {}).values())


def stop_spark() -> None:
    """Stop the warm-up thread's session, once its jobs are done (see tests/runtime/
    spark_jvm.py; the test session's fixture stops it otherwise)."""
    _warming["ready"].wait()
    if "error" in _warming:
        raise _warming["error"]
    for future in prefetched_results():
        future.exception()  # wait for it
    _warming["session"].stop()


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local SparkSession for the whole test session, stopped at the end."""
    if "ready" in _warming:
        _warming["ready"].wait()
        if "error" in _warming:
            raise _warming["error"]
        session = _warming["session"]
        # Active sessions are per thread: the warm-up thread's is this thread's too, as the
        # session of a job that started it would be (spark_etl.main reuses an active one).
        session._jvm.SparkSession.setActiveSession(session._jsparkSession)  # type: ignore[union-attr]
    else:
        session = start_session(tmp_path_factory.mktemp("spark"))
    vm_info = session._jvm.System.getProperty("java.vm.info")  # type: ignore[union-attr]
    sharing = "on" if "sharing" in vm_info else "off"
    print(f"\nSpark {session.version} on {ensure_java()}, class sharing {sharing}", file=sys.stderr)
    try:
        yield session
    finally:
        session.stop()


# Hypothesis: no example database in the repository, no per-example deadline (the machine's
# load varies; each property's cost is bounded by its max_examples instead).
settings.register_profile("ml-blueprints", database=None, deadline=None)
settings.load_profile("ml-blueprints")
