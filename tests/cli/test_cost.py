"""``ml-blueprints cost``: every resource has a class, the idle cost per stack, the price of
what runs, the price table's sources, the README's cost statements, and the command's
errors. On the project's app (default, sandbox, every opt-in) and on a consumer's app."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml_blueprints import cli
from ml_blueprints.cost import CostClass, CostReport, class_table, estimate, price_table, usd
from ml_blueprints.cost.rules import RULES
from tests.app_runs import outdir_of
from tests.conftest import ROOT, Synthesized

README = ROOT / "README.md"


def _lines(report: CostReport, stack: str) -> dict[str, float]:
    return {
        r.logical_id: r.idle_usd_month
        for r in report.resources
        if r.stack == stack and r.idle_usd_month
    }


def test_every_resource_type_of_every_synthesized_app_has_a_cost_class(
    all_apps: list[Synthesized],
) -> None:
    """The project's app by default, in sandbox mode with every opt-in on, and every
    construct variant: a new layer cannot add a type without classifying it."""
    for app in all_apps:
        report = estimate(app.outdir)
        assert report.resources
        assert report.unclassified_types == [], app.outdir
        if app.settings is not None:  # the project's app: every idle or running part priced
            assert [f"{r.stack}/{r.logical_id}" for r in report.unpriced] == [], app.outdir


def test_the_default_sandbox_app_idles_at_20_dollars_a_month_or_less() -> None:
    report = estimate(outdir_of("sandbox-default"))
    per_stack = {s.name: round(s.idle_usd_month, 2) for s in report.stacks}
    assert per_stack == {
        "DataLake": 3.00,  # the lake key, the flow-log key, the one key of every alert topic
        "RealTime": 11.55,  # one provisioned shard, six alarms
        "Analytics": 0.89,  # the ETL job's daily run on no new data
        "Ml": 0.00,  # nothing runs until a training is started
        "Serving": 1.00,  # the results table's key
        "Governance": 1.00,  # one key for the trail, its logs and the budget topic
        "Ingestion": 0.30,  # the export's alarms (three metrics)
    }
    assert report.idle_usd_month <= 20
    stream = next(r for r in report.resources if r.resource_type == "AWS::Kinesis::Stream")
    assert stream.prices == ("kinesis_shard_hour",)
    assert stream.idle_usd_month == pytest.approx(0.015 * 730)


def test_the_default_app_keeps_an_on_demand_stream(project: Synthesized) -> None:
    report = estimate(project.outdir)
    stream = next(r for r in report.resources if r.resource_type == "AWS::Kinesis::Stream")
    assert stream.prices == ("kinesis_on_demand_stream_hour",)
    assert stream.idle_usd_month == pytest.approx(0.04 * 730)
    assert round(report.idle_usd_month, 2) == 35.99
    assert {r.cost_class for r in report.resources} == {
        CostClass.HOURLY,
        CostClass.RUNNING,
        CostClass.USAGE,
        CostClass.FREE,
    }


def test_opt_ins_are_priced_while_they_run_or_while_they_exist(
    sandbox_project: Synthesized,
) -> None:
    report = estimate(sandbox_project.outdir)
    running = {(r.stack, r.resource_type): r for r in report.running}
    cluster = running[("Emr", "AWS::EMR::Cluster")]
    # primary 1 x m6i.xlarge, core 2 and task 2 units of m6i.2xlarge (the cheapest priced
    # type of each fleet, spot at the on-demand rate), EC2 + EMR fee + gp3 volumes
    ebs = (2 * 256 + 2 * 128) * 0.08 / 730
    assert cluster.run_usd_hour == pytest.approx(0.24 + 4 * 0.48 + ebs, abs=1e-4)
    assert cluster.idle_usd_month == 0
    notebook = running[("Ml", "AWS::SageMaker::NotebookInstance")]
    assert notebook.run_usd_hour == pytest.approx(0.7364)
    assert notebook.idle_usd_month == pytest.approx(50 * 0.14)  # its volume, stopped or not
    endpoint = next(r for r in report.resources if r.resource_type == "AWS::SageMaker::Endpoint")
    assert endpoint.cost_class is CostClass.HOURLY
    assert endpoint.idle_usd_month == pytest.approx(1.408 * 730)
    interface = [
        r
        for r in report.resources
        if r.resource_type == "AWS::EC2::VPCEndpoint" and r.cost_class is CostClass.HOURLY
    ]
    # EMR, KMS, STS, Glue, SageMaker API in the data lake layer; ECR API and registry, logs
    # and Secrets Manager in the ingestion layer (Batch, DMS); 3 AZs each (the warehouse
    # widens the VPC to 3)
    assert len(interface) == 9
    assert sum(r.stack == "Ingestion" for r in interface) == 4
    assert all(r.idle_usd_month == pytest.approx(3 * 0.01 * 730) for r in interface)
    job = running[("Ingestion", "AWS::Batch::JobDefinition")]
    # Fargate: 1 vCPU, 2 GB, 1 GB of storage beyond the 20 GB every task gets
    assert job.run_usd_hour == pytest.approx(0.04048 + 2 * 0.004445 + 0.000111)
    assert job.idle_usd_month == 0
    namespace = next(
        r for r in report.resources if r.resource_type == "AWS::RedshiftServerless::Namespace"
    )
    assert namespace.cost_class is CostClass.HOURLY  # the admin secret Redshift keeps
    assert namespace.idle_usd_month == pytest.approx(0.40)
    replication = running[("Ingestion", "AWS::DMS::ReplicationConfig")]
    assert replication.run_usd_hour == pytest.approx(1 * 0.25)  # its minimum, 1 DCU
    assert "up to $1.00/hour at 4 DCU" in replication.basis
    gateways = [
        r
        for r in report.resources
        if r.resource_type == "AWS::EC2::VPCEndpoint" and r.cost_class is CostClass.FREE
    ]
    assert len(gateways) == 2  # S3 and DynamoDB


def test_the_idle_cost_is_in_make_synths_summary(project: Synthesized) -> None:
    from ml_blueprints.report import idle_cost_line

    line = idle_cost_line(project.outdir)
    assert line.startswith("idle cost: $35.99 a month at us-east-1 list prices (DataLake $3.00")
    assert "Governance $1.00" in line


# ----------------------------------------------------------------------------- the README


def _readme_block(name: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    assert match, f"the README has a <!-- {name}:start --> ... <!-- {name}:end --> block"
    return match.group(1)


def idle_table(sandbox: CostReport, default: CostReport) -> str:
    """The README's idle-cost table, from the command's reports."""
    rows = [
        "| stack | idle, sandbox (`-c sandbox=true`) | idle, default |",
        "|---|---:|---:|",
    ]
    defaults = {s.name: s.idle_usd_month for s in default.stacks}
    for stack in sandbox.stacks:
        rows.append(f"| {stack.name} | {usd(stack.idle_usd_month)} | {usd(defaults[stack.name])} |")
    rows.append(
        f"| **total a month** | **{usd(sandbox.idle_usd_month)}** | "
        f"**{usd(default.idle_usd_month)}** |"
    )
    return "\n".join(rows) + "\n"


def opt_in_table(base: CostReport, every_opt_in: CostReport) -> str:
    """The README's table of what the opt-ins add, from the command's reports."""
    known = {(r.stack, r.logical_id) for r in base.resources}
    rows = [
        "| stack | resource | class | while it runs | idle a month |",
        "|---|---|---|---:|---:|",
    ]
    for r in every_opt_in.resources:
        if (r.stack, r.logical_id) in known or r.cost_class not in (
            CostClass.HOURLY,
            CostClass.RUNNING,
        ):
            continue
        run = f"{usd(r.run_usd_hour)}/hour" if r.run_usd_hour is not None else "-"
        name = re.sub(r"[0-9A-F]{8}$", "", r.logical_id)
        rows.append(
            f"| {r.stack} | {name} ({r.resource_type}) | {r.cost_class.meaning} | {run} | "
            f"{usd(r.idle_usd_month)} |"
        )
    return "\n".join(rows) + "\n"


def test_the_readme_cost_tables_come_from_the_command(
    project: Synthesized, sandbox_project: Synthesized
) -> None:
    sandbox = estimate(outdir_of("sandbox-default"))
    default = estimate(project.outdir)
    expected = idle_table(sandbox, default)
    assert _readme_block("idle-cost") == expected, f"README idle-cost block:\n{expected}"
    every = estimate(sandbox_project.outdir)
    expected = opt_in_table(sandbox, every)
    assert _readme_block("opt-in-cost") == expected, f"README opt-in-cost block:\n{expected}"


def test_the_readme_prose_figures_come_from_the_command(project: Synthesized) -> None:
    """The totals and the stream's prices the README's prose quotes, outside the tables."""
    sandbox = estimate(outdir_of("sandbox-default"))
    default = estimate(project.outdir)
    text = README.read_text()
    low, high = usd(sandbox.idle_usd_month), usd(default.idle_usd_month)
    assert f"The default sandbox app idles at **{low} a month**" in text
    assert f"(**{low} a month** in sandbox mode, {high}\nby default" in text
    assert f"idle cost: {high} a month at us-east-1 list prices (DataLake" in text

    def stream(report: CostReport) -> str:
        return usd(
            next(
                r for r in report.resources if r.resource_type == "AWS::Kinesis::Stream"
            ).idle_usd_month
        )

    assert f"**One provisioned shard in sandbox mode** ({stream(sandbox)} a month)" in text
    assert f"per stream-hour, {stream(default)} a month, before any data" in text


# ----------------------------------------------------------------------------- the table


def test_every_price_names_its_source_and_date_or_says_there_is_none() -> None:
    prices = price_table()
    assert len(prices) >= 30
    for key, price in prices.items():
        assert price.usd > 0 and price.unit, key
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?|undated", price.as_of), key
        assert price.evidence, key
        if price.source:
            assert price.source.startswith("https://aws.amazon.com/") or price.source.startswith(
                "https://docs.aws.amazon.com/"
            ), key
        else:
            assert price.evidence.startswith("no stored copy with this number was found"), key


def test_every_class_is_known_and_every_named_rule_exists() -> None:
    for resource_type, entry in class_table().items():
        assert entry.cost_class is not CostClass.UNCLASSIFIED, resource_type
        assert entry.rule is None or entry.rule in RULES, resource_type


# ----------------------------------------------------------------------------- the command


def test_cost_as_json_on_the_synthesized_app(
    sandbox_project: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["cost", "--format", "json", "--outdir", str(sandbox_project.outdir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["region"] == "us-east-1" and report["hours_per_month"] == 730
    assert set(report["stacks"]) == {
        "DataLake",
        "RealTime",
        "Analytics",
        "Ml",
        "Emr",
        "Serving",
        "Governance",
        "Ingestion",
    }
    assert report["idle_usd_month"] == round(
        sum(s["idle_usd_month"] for s in report["stacks"].values()), 2
    )
    assert {r["type"] for r in report["running"]} >= {
        "AWS::EMR::Cluster",
        "AWS::SageMaker::NotebookInstance",
        "AWS::Glue::Job",
        "AWS::RedshiftServerless::Workgroup",
        "AWS::Batch::JobDefinition",
        "AWS::DMS::ReplicationConfig",
    }
    assert report["unclassified_types"] == []
    kms = report["prices"]["kms_key_month"]
    assert kms["source"] == "https://aws.amazon.com/kms/pricing/" and kms["as_of"]


def test_cost_as_markdown(project: Synthesized, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--outdir", str(project.outdir)]) == 0
    page = capsys.readouterr().out
    assert page.startswith("# ml-blueprints cost")
    assert "| **total** |" in page and "**$35.99**" in page
    assert "## Billed while it runs" in page and "## Prices used" in page


def test_cost_without_a_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--outdir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith(f"error: {tmp_path}/ holds no")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"manifest.json": "{not json"}, "manifest.json is not readable JSON"),
        ({"manifest.json": '{"version": "1"}'}, "manifest.json has no artifacts"),
        (
            {
                "manifest.json": json.dumps(
                    {"artifacts": {"S": {"type": "aws:cloudformation:stack"}}}
                )
            },
            "S.template.json is missing",
        ),
        (
            {
                "manifest.json": json.dumps(
                    {"artifacts": {"S": {"type": "aws:cloudformation:stack"}}}
                ),
                "S.template.json": "[",
            },
            "S.template.json is not readable JSON",
        ),
        ({"manifest.json": '{"artifacts": {}}'}, "holds no CloudFormation stack"),
    ],
)
def test_cost_on_a_corrupt_assembly(
    tmp_path: Path, files: dict[str, str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert cli.main(["cost", "--outdir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: ") and expected in error


def test_cost_with_a_bad_format_exits_2_with_one_error_line() -> None:
    script = Path(sys.executable).parent / "ml-blueprints"
    result = subprocess.run(
        [str(script), "cost", "--format", "xml"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "xml" in errors[0]


def test_cost_of_a_consumers_app(capsys: pytest.CaptureFixture[str]) -> None:
    outdir = outdir_of("consumer")
    report = estimate(outdir)
    assert [s.name for s in report.stacks] == ["Archive/Store", "AcmeLake", "AcmeClicks"]
    assert report.unclassified_types == ["AWS::SQS::Queue"]
    assert _lines(report, "AcmeLake") == {
        "LakeKey7B6C155C": 1.0,
        "NetworkFlowLogKeyF785E5F9": 1.0,
    }
    clicks = _lines(report, "AcmeClicks")
    assert clicks["ClicksStream351DBF42"] == pytest.approx(29.2)  # on-demand by default
    assert round(report.idle_usd_month, 2) == 32.80
    assert cli.main(["cost", "--outdir", str(outdir)]) == 0
    page = capsys.readouterr().out
    assert "## Without a cost class\n\n- AWS::SQS::Queue" in page
