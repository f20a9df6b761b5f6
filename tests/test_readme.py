"""The README's reuse example runs as written, against the same rule packs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import FEATURE_FLAGS, ROOT


def _example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Reuse a construct in your own CDK app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's reuse section has a python example"
    return match.group(1)


_run: dict[str, Any] = {}


def start_example() -> None:
    """Run the README example as the CDK CLI runs an app (its own process, cdk.json's context,
    an output directory), in the background (started by the root conftest)."""
    if "process" in _run:
        return
    outdir = Path(tempfile.mkdtemp(prefix="mlbp-readme-"))
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(FEATURE_FLAGS), "CDK_OUTDIR": str(outdir)}
    script = outdir / "readme_app.py"
    script.write_text(_example())
    _run["outdir"] = outdir
    _run["process"] = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_readme_reuse_example_synthesizes_cleanly() -> None:
    start_example()
    _, stderr = _run["process"].communicate(timeout=600)
    assert _run["process"].returncode == 0, stderr[-3000:]
    outdir: Path = _run["outdir"]
    template = json.loads((outdir / "MyLakeStack.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::S3::Bucket") == 3  # raw, curated and the access-logs bucket
    assert "AWS::EC2::VPC" in types
    report = json.loads((outdir / "validation-report.json").read_text())
    assert {p["conclusion"] for p in report["pluginReports"]} == {"success"}
