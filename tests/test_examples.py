"""The examples in examples/ run as a consumer runs them, and pass every gate.

Each example is an app of its own, run in a fresh process with no context from this
repository (no cdk.json, no feature flags: CDK's defaults, so strong cross-stack references),
from a directory outside it, with the machine's end-of-life Node first on PATH and no
JSII_NODE: the package's .pth file has to give jsii a supported Node. The multi-stack example
runs a second time with weak cross-stack references. Every run must synthesize with zero
unacknowledged findings under the rule packs (cdk-nag's four and the project's own), and
cfn-lint must find no error in the templates.

The runs take a while, so they start in the background as soon as the test session starts
(tests/conftest.py), all at once, and the tests below wait for them. CDK's own
CloudFormation schema validation is off in these runs, as in the rest of the suite
(tests/conftest.py): cfn-lint checks every template instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ml_blueprints.packs import RULE_PACKS
from ml_blueprints.report import read_validation_report
from tests.conftest import in_background, start_cfn_lint

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
WEAK = {"@aws-cdk/core:defaultCrossStackReferences": "weak"}


@dataclass
class Run:
    """One example app run in its own process."""

    name: str
    script: Path
    context: dict[str, Any] | None = None
    outdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mlbp-example-")))
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    def command(self) -> list[str]:
        return in_background([sys.executable, str(self.script)])

    def environment(self) -> dict[str, str]:
        """The caller's environment without anything this repository or the test session
        set (CDK context, JSII_NODE), with the machine's own Node first on PATH."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CDK_", "JSII_")) and key != "PYTHONPATH"
        }
        system_dirs = [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if Path(d).is_dir()]
        env["PATH"] = os.pathsep.join([*system_dirs, env.get("PATH", "")])
        env["CDK_OUTDIR"] = str(self.outdir)
        env["CDK_VALIDATION"] = "false"  # cfn-lint checks the templates (see the docstring)
        if self.context is not None:
            env["CDK_CONTEXT_JSON"] = json.dumps(self.context)
        return env

    def run(self) -> None:
        started = time.perf_counter()
        result = subprocess.run(
            self.command(),
            cwd=self.outdir,  # outside the repository: no cdk.json anywhere above
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        self.seconds = time.perf_counter() - started
        self.returncode, self.stdout, self.stderr = result.returncode, result.stdout, result.stderr

    def templates(self) -> dict[str, dict[str, Any]]:
        return {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted(self.outdir.glob("*.template.json"))
        }


RUNS = {
    "lake": Run("lake", EXAMPLES / "lake" / "app.py"),
    "single_stack": Run("single_stack", EXAMPLES / "single_stack" / "app.py"),
    "multi_stack": Run("multi_stack", EXAMPLES / "multi_stack" / "app.py"),
    "multi_stack_weak": Run("multi_stack_weak", EXAMPLES / "multi_stack" / "app.py", WEAK),
}
#: The runs whose templates cfn-lint checks (the weak run differs only in references).
LINTED = ("lake", "single_stack", "multi_stack")
_state: dict[str, Any] = {}


def _run_all() -> None:
    """Every run at once, each in its own thread (they are niced background processes, so
    they take whatever CPU the tests leave); cfn-lint starts on the linted runs' templates
    as soon as those runs have finished."""
    threads = {
        name: threading.Thread(target=run.run, name=f"example-{name}", daemon=True)
        for name, run in RUNS.items()
    }
    for thread in threads.values():
        thread.start()
    for name in LINTED:
        threads[name].join()
    templates = [
        str(path) for name in LINTED for path in sorted(RUNS[name].outdir.glob("*.template.json"))
    ]
    lint = start_cfn_lint(templates)
    for thread in threads.values():
        thread.join()
    out, err = lint.communicate(timeout=900)
    _state["lint"] = (lint.returncode, json.loads(out or "[]"), err, templates)


def start_examples() -> None:
    """Run every example in the background, all at once (started by conftest)."""
    if "thread" not in _state:
        _state["thread"] = threading.Thread(target=_run_all, name="examples", daemon=True)
        _state["thread"].start()


def _finished() -> dict[str, Run]:
    start_examples()
    _state["thread"].join(timeout=1200)
    assert not _state["thread"].is_alive(), "the example runs did not finish"
    return RUNS


def timings() -> dict[str, float]:
    """Wall seconds of each run, once they have finished (for the session summary)."""
    return {name: run.seconds for name, run in RUNS.items() if run.returncode is not None}


@pytest.mark.parametrize("name", ["lake", "single_stack", "multi_stack", "multi_stack_weak"])
def test_each_example_synthesizes_with_no_open_finding(name: str) -> None:
    run = _finished()[name]
    assert run.returncode == 0, run.stderr[-4000:]
    summary = read_validation_report(run.outdir)
    assert set(summary.open_findings) >= set(RULE_PACKS)
    assert summary.clean, summary.open_findings
    assert "end-of-life" not in run.stderr, "jsii ran on the machine's end-of-life Node"


def test_cfn_lint_finds_no_error_in_the_examples() -> None:
    _finished()
    returncode, matches, stderr, templates = _state["lint"]
    assert returncode in (0, 2, 4, 6, 8, 10, 12, 14), stderr[-2000:]
    assert len(templates) == 1 + 1 + 9
    errors = [m for m in matches if m["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]


#: Public constructs the multi-stack example does not create itself: the warehouse needs a
#: three-AZ network, which needs an account and region looked up by `cdk synth` (see the
#: example's docstring), and its setup function is a part of it.
NOT_IN_THE_MULTI_STACK_EXAMPLE = {"Warehouse", "SetupFunction"}


def test_the_multi_stack_example_spreads_every_construct_over_nine_stacks() -> None:
    from constructs import Construct

    import ml_blueprints.constructs as public

    run = _finished()["multi_stack"]
    templates = run.templates()
    assert sorted(templates) == [
        "AcmeAnalytics",
        "AcmeBigData",
        "AcmeConsumers",
        "AcmeGovernance",
        "AcmeIngest",
        "AcmeMl",
        "AcmeServing",
        "AcmeSources",
        "AcmeStorage",
    ]
    source = (EXAMPLES / "multi_stack" / "app.py").read_text()
    constructs = [
        name
        for name, obj in vars(public).items()
        if isinstance(obj, type) and issubclass(obj, Construct)
    ]
    unused = [name for name in constructs if f"{name}(" not in source]
    assert sorted(unused) == sorted(NOT_IN_THE_MULTI_STACK_EXAMPLE), unused


def _types(template: dict[str, Any]) -> list[str]:
    return [resource["Type"] for resource in template["Resources"].values()]


def test_the_multi_stack_example_gets_its_non_default_props() -> None:
    templates = _finished()["multi_stack"].templates()
    stream = next(
        r["Properties"]
        for r in templates["AcmeIngest"]["Resources"].values()
        if r["Type"] == "AWS::Kinesis::Stream"
    )
    assert stream["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["ShardCount"] == 3  # 3 MB/s and 2,500 records/s
    delivery = next(
        r["Properties"]
        for r in templates["AcmeIngest"]["Resources"].values()
        if r["Type"] == "AWS::KinesisFirehose::DeliveryStream"
    )
    conversion = delivery["ExtendedS3DestinationConfiguration"]["DataFormatConversionConfiguration"]
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    crawlers = [
        r["Properties"]
        for r in templates["AcmeAnalytics"]["Resources"].values()
        if r["Type"] == "AWS::Glue::Crawler"
    ]
    assert [c.get("Schedule") for c in crawlers] == [
        {"ScheduleExpression": "cron(10 * * * ? *)"},
        None,
    ]
    cluster = next(
        r["Properties"]
        for r in templates["AcmeBigData"]["Resources"].values()
        if r["Type"] == "AWS::EMR::Cluster"
    )
    fleets = {f["Name"]: f for f in cluster["Instances"]["TaskInstanceFleets"]}
    gpu = [t["InstanceType"] for t in fleets["GpuTask"]["InstanceTypeConfigs"]]
    assert gpu == ["g5.2xlarge", "g6.2xlarge", "g5.4xlarge"]
    assert cluster["ReleaseLabel"] == "emr-7.14.0"
    ml = templates["AcmeMl"]["Resources"]
    [machine] = [r for r in ml.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "ml.p4d.24xlarge" in definition and "ml.g5.2xlarge" in definition
    # The pipeline hosts on a GPU with the CUDA container chosen for it, and records its runs.
    assert "huggingface-pytorch-inference:" in definition and "neuronx" not in definition
    assert "dynamodb:putItem" in definition
    # The endpoint serves a Neuron-compiled model on Inferentia2 with the Neuron container.
    [model] = [r["Properties"] for r in ml.values() if r["Type"] == "AWS::SageMaker::Model"]
    assert "-inference-neuronx:" in model["PrimaryContainer"]["Image"]
    [config] = [
        r["Properties"] for r in ml.values() if r["Type"] == "AWS::SageMaker::EndpointConfig"
    ]
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.inf2.xlarge"


def test_no_context_means_strong_references_and_the_weak_run_uses_weak_ones() -> None:
    runs = _finished()
    strong = json.dumps(runs["multi_stack"].templates()["AcmeConsumers"])
    weak = json.dumps(runs["multi_stack_weak"].templates()["AcmeConsumers"])
    assert "Fn::ImportValue" in strong and "Fn::GetStackOutput" not in strong
    assert "Fn::GetStackOutput" in weak and "Fn::ImportValue" not in weak


def test_the_consumers_write_no_acknowledgment_of_their_own() -> None:
    """The examples acknowledge nothing themselves; the grants to their roles acknowledge
    the object wildcards they cannot avoid, on the grant policies they created."""
    for name in ("lake", "single_stack", "multi_stack"):
        source = (EXAMPLES / name / "app.py").read_text()
        assert not re.search(r"\backnowledge\w*\(|Validations\.of", source), name
    acknowledged = {
        (a.acknowledged_at, a.rule.split("[")[0])
        for a in read_validation_report(_finished()["multi_stack"].outdir).acknowledged
        if a.acknowledged_at.startswith("AcmeConsumers/")
    }
    assert acknowledged == {
        ("AcmeConsumers/Analyst/GrantsPolicy", "AwsSolutions-IAM5"),
        ("AcmeConsumers/FeatureWriter/MlbpGrantsPolicy", "AwsSolutions-IAM5"),
    }
