"""Packaging: the wheel a consumer installs holds everything the constructs need.

The wheel is built from this checkout (offline, in the background as soon as the tests are
collected) and installed into a directory of its own. Checked: every file of the package is
in it (the Lambda transform and the Spark script the constructs upload as assets among
them), ``py.typed`` and the ``.pth`` hook; and an app run from that installation, which
imports ``aws_cdk`` before anything else, gets jsii on the ``toolchain`` extra's Node with
the machine's end-of-life Node first on ``PATH``, and stages its assets from the installed
files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

from ml_blueprints._node_hook import wheel_node
from ml_blueprints.constructs.analytics.spark_etl_job import SCRIPT_MODULES
from ml_blueprints.toolchain import MIN_NODE_MAJOR, node_major
from tests.conftest import in_background

ROOT = Path(__file__).resolve().parents[1]
PTH = "ml_blueprints_node.pth"

#: Run from the installed wheel (see the module docstring): imports aws_cdk first.
CONSUMER = r"""
import json, os, sys
import aws_cdk as cdk
kids = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
nodes = [os.readlink(f"/proc/{kid}/exe") for kid in kids]
import ml_blueprints
from ml_blueprints.constructs import DataCatalog, SecureDataLake, SparkEtlJob, StreamingIngestion
app = cdk.App(outdir=sys.argv[1])
stack = cdk.Stack(app, "FromTheWheel")
lake = SecureDataLake(stack, "Lake")
StreamingIngestion(stack, "Ingestion", lake=lake)
SparkEtlJob(stack, "Job", catalog=DataCatalog(stack, "Catalog", lake=lake, database_name="w"))
app.synth()
print(json.dumps({"nodes": nodes, "package": ml_blueprints.__file__}))
"""

_state: dict[str, Any] = {}


def _sh(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        in_background(list(command)), capture_output=True, text=True, timeout=600, **kwargs
    )


def _build() -> None:
    work = Path(tempfile.mkdtemp(prefix="mlbp-wheel-"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = _sh(
        *pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(ROOT)
    )
    _state["build"] = built
    wheels = sorted((work / "dist").glob("*.whl"))
    if built.returncode != 0 or not wheels:
        return
    _state["wheel"] = wheels[0]
    target = work / "site"
    installed = _sh(
        *pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheels[0])
    )
    _state["install"] = installed
    if installed.returncode != 0:
        return
    # A fresh interpreter without this checkout's editable install: the dependencies from the
    # virtual environment, the package (and its .pth, processed by addsitedir) from the wheel.
    bootstrap = (
        "import site, sys; "
        f"sys.path.append({sysconfig.get_paths()['purelib']!r}); "
        f"site.addsitedir({str(target)!r}); "
        f"sys.argv = ['consumer', {str(work / 'out')!r}]; "
        f"exec(compile({CONSUMER!r}, 'consumer', 'exec'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDK_", "JSII_"))}
    env["PATH"] = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin", env.get("PATH", "")])
    env["CDK_VALIDATION"] = "false"
    _state["target"] = target
    _state["outdir"] = work / "out"
    _state["consumer"] = _sh(sys.executable, "-S", "-c", bootstrap, cwd=work, env=env)


def start_build() -> None:
    """Build, install and try the wheel in the background (started by conftest)."""
    if "thread" not in _state:
        _state["thread"] = threading.Thread(target=_build, name="wheel", daemon=True)
        _state["thread"].start()


def _finished() -> dict[str, Any]:
    start_build()
    _state["thread"].join(timeout=900)
    assert not _state["thread"].is_alive(), "building the wheel did not finish"
    built = _state["build"]
    assert built.returncode == 0 and "wheel" in _state, built.stderr[-3000:]
    return _state


def _package_files() -> set[str]:
    """Every file of the package in this checkout, as a path inside the wheel."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "ml_blueprints").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_holds_every_file_of_the_package_and_the_node_hook() -> None:
    names = set(zipfile.ZipFile(_finished()["wheel"]).namelist())
    tracked = _package_files()
    assert {
        "ml_blueprints/runtime/firehose_transform.py",
        "ml_blueprints/runtime/spark_etl.py",
        "ml_blueprints/py.typed",
    } <= tracked
    missing = sorted(tracked - names)
    assert missing == [], f"not in the wheel: {missing}"
    assert PTH in names  # at the top of site-packages
    hook = zipfile.ZipFile(_state["wheel"]).read(PTH).decode()
    assert hook == (ROOT / PTH).read_text()


def test_every_file_a_construct_references_is_in_the_wheel() -> None:
    """Module-level paths of the constructs (the transform's directory, the Spark script)
    point at files that exist in the installed package."""
    import importlib
    import pkgutil

    import ml_blueprints.constructs as constructs

    target = _finished()["target"]
    package_root = Path(constructs.__file__).resolve().parents[1]
    referenced: set[Path] = set()
    for info in pkgutil.walk_packages(constructs.__path__, f"{constructs.__name__}."):
        for value in vars(importlib.import_module(info.name)).values():
            if isinstance(value, Path) and value.resolve().is_relative_to(package_root):
                found = value.resolve()
                referenced |= set(found.glob("*.py")) if found.is_dir() else {found}
    names = {p.name for p in referenced}
    assert {"firehose_transform.py", "spark_etl.py"} <= names
    for path in referenced:
        relative = path.relative_to(package_root.parent)
        assert (target / relative).is_file(), relative


def test_an_app_run_from_the_wheel_imports_aws_cdk_first_and_gets_a_supported_node() -> None:
    state = _finished()
    consumer = state["consumer"]
    assert consumer.returncode == 0, consumer.stderr[-3000:]
    assert "end-of-life" not in consumer.stderr
    result = json.loads(consumer.stdout.strip().splitlines()[-1])
    assert result["package"].startswith(str(state["target"]))  # the installed copy
    node = wheel_node()
    assert node is not None
    assert result["nodes"] == [str(node)]
    assert (node_major(str(node)) or 0) >= MIN_NODE_MAJOR


def test_the_assets_are_staged_from_the_installed_files() -> None:
    state = _finished()
    assert state["consumer"].returncode == 0, state["consumer"].stderr[-3000:]
    assets = json.loads((state["outdir"] / "FromTheWheel.assets.json").read_text())
    sources = [Path(state["outdir"], a["source"]["path"]) for a in assets["files"].values()]
    installed = state["target"] / "ml_blueprints" / "runtime"
    # The Spark script, uploaded as a file (staged as asset.<hash>.py).
    scripts = [p for p in sources if p.is_file() and p.suffix == ".py"]
    assert [p.read_bytes() for p in scripts] == [(installed / "spark_etl.py").read_bytes()]
    # The transform's Lambda bundle: the transform and the event contract, nothing else; the
    # Spark job's modules (zipped on upload): exactly those the job imports.
    for first, expected in (
        ("firehose_transform.py", ["event_contract.py", "firehose_transform.py"]),
        ("spark_files.py", sorted(SCRIPT_MODULES)),
    ):
        bundles = [p for p in sources if p.is_dir() and (p / first).is_file()]
        assert len(bundles) == 1, first
        assert sorted(p.name for p in bundles[0].iterdir()) == expected
        for name in expected:
            assert (bundles[0] / name).read_bytes() == (installed / name).read_bytes(), name
