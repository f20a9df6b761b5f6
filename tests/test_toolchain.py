"""The toolchain: a supported Node for jsii and the CDK CLI, and a pinned CLI."""

from __future__ import annotations

import json
import os
import shutil

from ml_blueprints.toolchain import MIN_NODE_MAJOR, node_major, use_supported_node
from tests.conftest import ROOT


def test_jsii_runs_on_a_supported_node() -> None:
    node = use_supported_node()
    assert node is not None
    assert (node_major(os.environ.get("JSII_NODE") or shutil.which("node") or node) or 0) >= (
        MIN_NODE_MAJOR
    )


def test_the_cdk_cli_is_pinned_exactly_and_locked() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    version = package["devDependencies"]["aws-cdk"]
    assert version[0].isdigit(), "pin an exact version, not a range"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == version


def test_cdk_json_runs_the_app_from_the_virtual_environment() -> None:
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    assert cdk_json["app"] == ".venv/bin/python app.py"
    assert cdk_json["context"]["@aws-cdk/aws-ec2:restrictDefaultSecurityGroup"] is True
    assert cdk_json["context"]["@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"] is True


def test_the_start_up_hook_points_jsii_at_the_toolchain_node(monkeypatch) -> None:
    from ml_blueprints._node_hook import point_jsii_at_wheel_node, wheel_node

    node = wheel_node()
    assert node is not None  # the dev extra includes the toolchain extra
    monkeypatch.delenv("JSII_NODE", raising=False)
    assert point_jsii_at_wheel_node() == str(node)
    assert os.environ["JSII_NODE"] == str(node)
    monkeypatch.setenv("JSII_NODE", "/opt/my/node")  # the user's choice is kept
    assert point_jsii_at_wheel_node() == "/opt/my/node"


def test_the_pth_file_calls_the_hook_only_without_jsii_node() -> None:
    hook = (ROOT / "ml_blueprints_node.pth").read_text()
    assert hook.startswith("import ")  # Python runs .pth lines that start with import
    assert hook.count("\n") == 1
    assert "'JSII_NODE' in os.environ or " in hook
    assert "ml_blueprints._node_hook" in hook and "point_jsii_at_wheel_node()" in hook


def test_the_hook_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; before = set(sys.modules); import ml_blueprints._node_hook; "
        "print(sorted(set(sys.modules) - before))"
    )
    loaded = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "subprocess" not in loaded and "aws_cdk" not in loaded and "jsii" not in loaded
