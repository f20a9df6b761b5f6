"""The README's reuse example runs as written, against the same rule packs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import FEATURE_FLAGS, ROOT


def _example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Reuse a construct in your own CDK app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's reuse section has a python example"
    return match.group(1)


def test_readme_reuse_example_synthesizes_cleanly(tmp_path: Path) -> None:
    # Run as the CDK CLI runs an app: its own process, cdk.json's context, an output dir.
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(FEATURE_FLAGS), "CDK_OUTDIR": str(tmp_path)}
    script = tmp_path / "readme_app.py"
    script.write_text(_example())
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "MyLakeStack.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::S3::Bucket") == 3  # raw, curated and the access-logs bucket
    assert "AWS::EC2::VPC" in types
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert {p["conclusion"] for p in report["pluginReports"]} == {"success"}
