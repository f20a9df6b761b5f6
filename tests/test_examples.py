"""The examples in examples/ run as a consumer runs them, and pass every gate.

Each example is an app of its own, run as `cdk synth` runs it, with no context from this
repository (no cdk.json, no feature flags: CDK's defaults, so strong cross-stack references)
and from a directory outside it, by tests/app_runs.py: one fresh process in the background
for all of them, with the machine's end-of-life Node first on PATH and no JSII_NODE, so the
package's .pth file has to give jsii a supported Node. The multi-stack example runs a second
time with weak cross-stack references. Every run must synthesize with zero unacknowledged
findings under the rule packs (cdk-nag's four and the project's own), and cfn-lint must find
no error in the templates: each example's templates go to the session's cfn-lint process as
soon as that example has run.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import Future
from typing import Any

import pytest

from ml_blueprints.packs import RULE_PACKS
from ml_blueprints.report import read_validation_report
from ml_blueprints.toolchain import MIN_NODE_MAJOR, node_major
from tests import app_runs
from tests.app_runs import EXAMPLES, AppRun
from tests.conftest import lint_server

#: The example runs (tests/app_runs.py) and those whose templates cfn-lint checks (the weak
#: run differs only in references), each linted as soon as it has run, in the order they run.
EXAMPLE_RUNS = ("lake", "single_stack", "multi_stack", "multi_stack_weak")
LINTED = tuple(name for name in app_runs.RUNS if name in {"lake", "single_stack", "multi_stack"})
_lint: dict[str, Future[list[dict[str, Any]]]] = {}
_started: list[threading.Thread] = []


def _lint_each_when_it_has_run() -> None:
    for name in LINTED:
        run = app_runs.RUNS[name].wait()
        templates = sorted(run.outdir.glob("*.template.json"))
        _lint[name] = lint_server().submit([str(path) for path in templates])


def start_examples() -> None:
    """Run every example in the background, and lint each as it finishes (started by
    conftest)."""
    app_runs.start()
    if not _started:
        _started.append(
            threading.Thread(target=_lint_each_when_it_has_run, name="examples-lint", daemon=True)
        )
        _started[0].start()


def _finished() -> dict[str, AppRun]:
    start_examples()
    return {name: app_runs.finished(name) for name in EXAMPLE_RUNS}


@pytest.mark.parametrize("name", EXAMPLE_RUNS)
def test_each_example_synthesizes_with_no_open_finding(name: str) -> None:
    run = _finished()[name]
    summary = read_validation_report(run.outdir)
    assert set(summary.open_findings) >= set(RULE_PACKS)
    assert summary.clean, summary.open_findings
    # The machine's end-of-life Node is first on PATH: the .pth hook must have given jsii
    # a supported one, and jsii must not have warned about the one it ran on.
    assert run.jsii_node is not None, "jsii ran on the first node on PATH"
    assert (node_major(run.jsii_node) or 0) >= MIN_NODE_MAJOR, run.jsii_node
    assert "end-of-life" not in app_runs.stderr(), "jsii ran on an end-of-life Node"


def test_cfn_lint_finds_no_error_in_the_examples() -> None:
    runs = _finished()
    _started[0].join(timeout=600)
    templates = [path for name in LINTED for path in runs[name].outdir.glob("*.template.json")]
    assert len(templates) == 1 + 1 + 9
    matches = [m for name in LINTED for m in _lint[name].result(timeout=900)]
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
