"""``ml-blueprints diagram``: meaningful nodes grouped by stack, the data flow as edges, the
README's diagram kept current, Mermaid always and SVG/PNG only with Graphviz."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ml_blueprints import cli
from ml_blueprints.assembly import read_stacks
from ml_blueprints.diagram import Graph, build_graph, dot, mermaid
from tests.app_runs import outdir_of
from tests.conftest import ROOT, Synthesized


def _graph(outdir: Path) -> Graph:
    return build_graph(read_stacks(outdir))


def _edges(graph: Graph) -> set[tuple[str, str, str]]:
    """Edges as (source, target, label) with readable names ``Stack/LogicalIdWithoutHash``."""

    def name(node_id: str) -> str:
        node = graph.nodes[node_id]
        return f"{node.stack}/{re.sub(r'[0-9A-F]{8}$', '', node.logical_id)}"

    return {(name(e.source), name(e.target), e.label) for e in graph.edges}


def test_the_readme_embeds_the_current_diagram_of_the_default_app(project: Synthesized) -> None:
    expected = mermaid(_graph(project.outdir))
    readme = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- diagram:start -->\n```mermaid\n(.*?)```\n<!-- diagram:end -->", readme, re.DOTALL
    )
    assert match, "the README has a mermaid block between <!-- diagram:start/end --> markers"
    assert match.group(1) == expected, (
        "the README's diagram is stale: run `make synth && .venv/bin/ml-blueprints diagram` "
        f"and paste it:\n{expected}"
    )


def test_the_data_flows_of_the_default_app(project: Synthesized) -> None:
    edges = _edges(_graph(project.outdir))
    expected = {
        ("RealTime/IngestionStream", "RealTime/IngestionDeliveryStream", ""),
        ("RealTime/IngestionDeliveryStream", "DataLake/LakeRawBucket", ""),
        ("RealTime/IngestionDeliveryStream", "RealTime/IngestionTransform", "transform"),
        ("DataLake/LakeRawBucket", "Analytics/CatalogRawEventsCrawler", ""),
        ("Analytics/CatalogRawEventsCrawler", "Analytics/CatalogDatabase", "tables"),
        ("Analytics/CatalogCuratedEventsCrawler", "Analytics/CatalogDatabase", "tables"),
        ("DataLake/LakeRawBucket", "Analytics/EtlJob", ""),
        ("Analytics/EtlJob", "DataLake/LakeCuratedBucket", ""),
        ("Analytics/WorkflowStateMachine", "Analytics/EtlJob", "starts"),
        ("Analytics/WorkflowStateMachine", "Analytics/CatalogRawEventsCrawler", "starts"),
        ("Analytics/WorkflowStateMachine", "Analytics/CatalogCuratedEventsCrawler", "starts"),
        ("Analytics/EtlJobSchedule", "Analytics/EtlJob", "starts"),
        ("RealTime/Alarms", "RealTime/AlertsTopic", "notifies"),
        ("Governance/Budget", "Governance/BudgetAlertsTopic", "notifies"),
        ("Governance/Trail", "Governance/TrailBucket", "logs"),
        ("DataLake/LakeRawBucket", "Governance/Trail", "data events"),
        ("DataLake/LakeCuratedBucket", "Governance/Trail", "data events"),
        ("DataLake/LakeAnalyticsBucket", "Governance/Trail", "data events"),
        ("DataLake/LakeRawBucket", "DataLake/LakeAccessLogsBucket", "access logs"),
        # the ingestion layer: devices into the stream (failures into the raw zone), the
        # results table exported to the raw zone on a schedule
        ("Ingestion/DevicesRule", "RealTime/IngestionStream", ""),
        ("Ingestion/DevicesRule", "DataLake/LakeRawBucket", ""),
        ("Ingestion/DevicesMismatchRule", "DataLake/LakeRawBucket", ""),
        ("Serving/ResultsTable", "Ingestion/ResultsExportMachineStateMachine", "exports"),
        ("Ingestion/ResultsExportMachineStateMachine", "DataLake/LakeRawBucket", ""),
        ("Ingestion/ResultsExportSchedule", "Ingestion/ResultsExportMachineStateMachine", "starts"),
    }
    assert expected <= edges, sorted(expected - edges)
    # configuration is not data flow: no edge to a key, none from an alarm to what it watches
    assert not any(t.endswith("Key") for _, t, _ in edges)
    assert not any(s == "RealTime/Alarms" and label != "notifies" for s, _, label in edges)
    assert ("DataLake/LakeAccessLogsBucket", "Governance/Trail", "data events") not in edges


def test_one_node_per_meaningful_resource_grouped_by_stack(project: Synthesized) -> None:
    graph = _graph(project.outdir)
    assert graph.stacks == [
        "DataLake",
        "RealTime",
        "Analytics",
        "Serving",
        "Ml",
        "Governance",
        "Ingestion",
    ]
    kinds = {n.kind for n in graph.nodes.values()}
    assert not {k for k in kinds if k.startswith(("AWS::IAM::", "AWS::Logs::", "Custom::"))}
    assert "AWS::Lambda::Function" in kinds  # the transform, not CDK's helper functions
    functions = [n for n in graph.nodes.values() if n.kind == "AWS::Lambda::Function"]
    # the transform and the export's window planner, not CDK's helper functions
    assert sorted(re.sub(r"[0-9A-F]{8}$", "", n.logical_id) for n in functions) == [
        "IngestionTransform",
        "ResultsExportWindowFunction",
    ]
    alarms = [n for n in graph.nodes.values() if n.kind == "AWS::CloudWatch::Alarm"]
    assert [(n.stack, n.label) for n in alarms] == [
        ("RealTime", "6 CloudWatch alarms"),
        ("Ingestion", "3 CloudWatch alarms"),
    ]
    buckets = {n.logical_id for n in graph.nodes.values() if n.kind == "AWS::S3::Bucket"}
    assert len(buckets) == 6  # four in the lake, the trail's two
    text = mermaid(graph)
    assert text.startswith("flowchart LR\n")
    assert text.count("  subgraph ") == 7 and text.count("\n  end\n") == 7
    assert '[("LakeRawBucket<br/>S3 bucket")]' in text  # stores are cylinders


def test_opt_in_layers_are_drawn_with_their_data(sandbox_project: Synthesized) -> None:
    edges = _edges(_graph(sandbox_project.outdir))
    assert ("DataLake/LakeRawBucket", "Emr/SparkCluster", "") in edges  # the step's input
    assert ("Emr/SparkCluster", "DataLake/LakeCuratedBucket", "") in edges
    assert ("Ml/Endpoint", "Ml/EndpointModel", "serves") in edges
    assert ("Ml/Endpoint", "DataLake/LakeAnalyticsBucket", "") in edges  # data capture
    ingestion = {
        ("Ingestion/DatabaseReplication", "DataLake/LakeRawBucket", ""),  # through its target
        ("Ingestion/FilesTask", "DataLake/LakeRawBucket", ""),  # through its destination
        ("Ingestion/BatchJobDefinition", "DataLake/LakeRawBucket", ""),
        ("Ingestion/BatchMachineStateMachine", "Ingestion/BatchJobDefinition", "starts"),
        ("Ingestion/BatchSchedule", "Ingestion/BatchMachineStateMachine", "starts"),
    }
    assert ingestion <= edges, sorted(ingestion - edges)


def test_a_consumers_app_with_import_values_and_a_stage() -> None:
    graph = _graph(outdir_of("consumer"))
    assert graph.stacks == ["Archive/Store", "AcmeLake", "AcmeClicks"]
    edges = _edges(graph)
    assert ("AcmeClicks/ClicksStream", "AcmeClicks/ClicksDeliveryStream", "") in edges
    assert ("AcmeClicks/ClicksDeliveryStream", "AcmeLake/LakeRawBucket", "") in edges
    assert "subgraph Archive_Store__" in mermaid(graph)


def test_diagram_command_writes_mermaid_and_dot(
    project: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["diagram", "--outdir", str(project.outdir)]) == 0
    assert capsys.readouterr().out == mermaid(_graph(project.outdir))
    output = tmp_path / "architecture.dot"
    assert (
        cli.main(
            ["diagram", "--outdir", str(project.outdir), "--format", "dot", "--output", str(output)]
        )
        == 0
    )
    text = output.read_text()
    assert text == dot(_graph(project.outdir))
    assert text.startswith("digraph architecture {") and "subgraph cluster_" in text


def _graphviz_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real ``dot`` when Graphviz is installed; otherwise a stand-in on ``PATH`` that
    records the arguments and the Graphviz source it is given and answers with an SVG."""
    if shutil.which("dot") is None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "dot"
        fake.write_text(
            "#!/bin/sh\n"
            f'echo "$@" > "{tmp_path}/dot-args"\n'
            f'cat > "{tmp_path}/dot-input"\n'
            "echo '<svg>LakeRawBucket</svg>'\n"
        )
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return tmp_path


def test_svg_through_graphviz(
    project: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = _graphviz_on_path(tmp_path, monkeypatch)
    output = tmp_path / "architecture.svg"
    assert (
        cli.main(
            ["diagram", "--outdir", str(project.outdir), "--format", "svg", "--output", str(output)]
        )
        == 0
    )
    svg = output.read_text()
    assert "<svg" in svg and "LakeRawBucket" in svg
    if (work / "dot-input").exists():  # the stand-in: dot got -Tsvg and the graph's source
        assert (work / "dot-args").read_text().split() == ["-Tsvg"]
        assert (work / "dot-input").read_text() == dot(_graph(project.outdir))


def test_svg_without_graphviz_is_one_error_line(
    project: Synthesized, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert cli.main(["diagram", "--outdir", str(project.outdir), "--format", "png"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert error.startswith("error: --format png needs Graphviz's `dot` on the PATH")


def test_diagram_errors_exit_2_with_one_error_line(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ml-blueprints"
    for args in (["--format", "jpeg"], ["--outdir", str(tmp_path)]):
        result = subprocess.run(
            [str(script), "diagram", *args], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, args
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, result.stderr
