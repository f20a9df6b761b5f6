"""Apps the cost and diagram tests read, synthesized in their own processes in the
background (started by the root conftest as soon as the tests are collected), so they
overlap with the tests that run first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import FEATURE_FLAGS, ROOT, in_background

CONSUMER_APP = Path(__file__).with_name("consumer_app.py")

#: The default app in sandbox mode (no opt-in): what the README's headline idle cost is of.
_SANDBOX_DEFAULT = """
from ml_blueprints.toolchain import use_supported_node
use_supported_node()
import json, os
from ml_blueprints.app import build_app
app, _ = build_app(context=json.loads(os.environ["MLBP_CONTEXT"]), outdir=os.environ["MLBP_OUT"])
app.synth()
"""

_runs: dict[str, tuple[subprocess.Popen[str], Path]] = {}


def _start(name: str, command: list[str], env: dict[str, str], outdir: Path) -> None:
    if name in _runs:
        return
    _runs[name] = (
        subprocess.Popen(
            in_background(command),
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        outdir,
    )


def start_sandbox_default() -> None:
    """Synthesize the project's app with ``sandbox=true`` and nothing else."""
    outdir = Path(tempfile.mkdtemp(prefix="mlbp-sandbox-default-"))
    context: dict[str, Any] = {**FEATURE_FLAGS, "sandbox": "true"}
    env = {
        "MLBP_CONTEXT": json.dumps(context),
        "MLBP_OUT": str(outdir),
        "CDK_VALIDATION": "false",
    }
    _start("sandbox-default", [sys.executable, "-c", _SANDBOX_DEFAULT], env, outdir)


def start_consumer_app() -> None:
    """Synthesize the consumer-style app as the CDK CLI runs an app: its own process, no
    context from this repository (no cdk.json flags), an output directory."""
    outdir = Path(tempfile.mkdtemp(prefix="mlbp-consumer-"))
    env = {"CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": "{}", "CDK_VALIDATION": "false"}
    _start("consumer", [sys.executable, str(CONSUMER_APP)], env, outdir)


def wait(name: str) -> Path:
    """The output directory of a background synth, once it has finished cleanly."""
    {"sandbox-default": start_sandbox_default, "consumer": start_consumer_app}[name]()
    process, outdir = _runs[name]
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return outdir
