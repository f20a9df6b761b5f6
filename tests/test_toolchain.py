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
