"""The ``ml-blueprints`` command: --help everywhere, list, report on the real app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml_blueprints import cli
from tests.conftest import Synthesized


@pytest.mark.parametrize("command", [[], ["list"], ["report"], ["smoke"]])
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: ml-blueprints" in capsys.readouterr().out


def test_the_console_script_is_declared_and_runs() -> None:
    script = Path(sys.executable).parent / "ml-blueprints"
    result = subprocess.run([str(script), "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "SparkCluster" in result.stdout and "[opt-in: costs while running]" in result.stdout


def test_list_names_every_stack_of_the_app(
    sandbox_project: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    for stack in sandbox_project.app.node.children:
        if hasattr(stack, "stack_name"):
            assert f"  {stack.node.id} " in listed


def test_report_as_json_on_the_synthesized_app(
    sandbox_project: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", "--format", "json", "--outdir", str(sandbox_project.outdir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["rule_packs"]) == {
        "AwsSolutions",
        "HIPAA.Security",
        "NIST.800.53.R5",
        "PCI.DSS.321",
        "MlBlueprints",
    }
    assert report["stacks"]["DataLake"]["AWS::S3::Bucket"] == 4
    assert report["stacks"]["Emr"]["AWS::EMR::Cluster"] == 1
    acknowledged = report["acknowledged"]
    assert acknowledged and all(a["reason"] and a["path"] for a in acknowledged)
    assert any(a["rule"] == "AwsSolutions-KDF1" for a in acknowledged)


def test_report_as_markdown(project: Synthesized, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--outdir", str(project.outdir)]) == 0
    page = capsys.readouterr().out
    assert page.startswith("# ml-blueprints compliance report")
    assert "| AwsSolutions | 0 |" in page and "## Acknowledged findings (" in page


def test_report_without_a_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--outdir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path}/ holds no synthesized app: run `make synth` first"
    )


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda f: f.write_text('{"pluginReports": ['), "not valid JSON"),
        (lambda f: f.write_text("[1, 2]"), "not a CDK validation report"),
        (lambda f: f.mkdir(), "is a directory"),
    ],
    ids=["truncated", "wrong-shape", "directory"],
)
def test_report_on_a_corrupt_validation_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], corrupt: Any, expected: str
) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    corrupt(tmp_path / "validation-report.json")
    assert cli.main(["report", "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
    assert f"{tmp_path / 'validation-report.json'}: " in err and expected in err
