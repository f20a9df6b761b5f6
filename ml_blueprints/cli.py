"""The ``ml-blueprints`` command: what is here, what a synth found, and whether a deployed
platform works.

    ml-blueprints list                      every stack and construct, and which cost money
    ml-blueprints report [--format md|json] the compliance report of cdk.out/
    ml-blueprints cost [--format md|json]   idle cost per stack, price of what runs
    ml-blueprints diagram [--format ...]    the architecture as Mermaid (or SVG/PNG)
    ml-blueprints smoke [--stack dev] ...   the post-deploy end-to-end check

Exit codes: 0 when everything passed; 1 when a check failed; 2 for a problem to fix first
(bad arguments, no cdk.out/, no credentials, wrong region, stack not deployed). Failures end
with one line ``error: <reason>`` on standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

#: (kind, name, what it is, opt-in for cost)
COMPONENTS: tuple[tuple[str, str, str, bool], ...] = (
    ("stack", "DataLake", "private VPC and the secure S3 data lake", False),
    ("stack", "RealTime", "Kinesis -> Firehose (Lambda transform) -> raw zone, with alarms", False),
    ("stack", "Analytics", "Glue catalog and crawlers, Spark ETL job and workflow, Athena", False),
    ("stack", "Emr", "EMR Spark cluster on instance fleets (-c emr=true)", True),
    ("stack", "Ml", "SageMaker training pipeline; GPU notebook and endpoint opt-in", False),
    ("stack", "Governance", "monthly cost budget and the CloudTrail audit trail", False),
    ("stack", "Serving", "DynamoDB results table; Redshift Serverless opt-in", False),
    (
        "stack",
        "Ingestion",
        "IoT devices and DynamoDB exports; Batch, DMS and DataSync opt-in",
        False,
    ),
    (
        "construct",
        "PrivateNetwork",
        "VPC with isolated subnets, gateway endpoints, flow logs",
        False,
    ),
    ("construct", "SecureDataLake", "KMS zone buckets, encryption forced by bucket policy", False),
    ("construct", "ManagedPolicyRole", "IAM role whose grants go to a managed policy", False),
    ("construct", "AlertTopic", "KMS-encrypted SNS topic alarms can publish to", False),
    (
        "construct",
        "StreamingIngestion",
        "Kinesis stream delivered by Firehose into the lake",
        False,
    ),
    ("construct", "DataCatalog", "Glue database, crawlers, security configuration, Athena", False),
    ("construct", "SparkEtlJob", "the raw-to-curated PySpark job on AWS Glue", False),
    (
        "construct",
        "EtlWorkflow",
        "Step Functions: crawl, run the job, crawl; notify failures",
        False,
    ),
    ("construct", "SparkCluster", "EMR 7 cluster: on-demand core, spot task fleets", True),
    (
        "construct",
        "TrainingPipeline",
        "Step Functions: spot GPU training, model, endpoint config",
        False,
    ),
    ("construct", "CostBudget", "monthly AWS Budgets cost budget with alerts", False),
    ("construct", "AuditTrail", "multi-region CloudTrail, S3 data events, to S3 and Logs", False),
    ("construct", "GpuNotebook", "SageMaker GPU notebook that stops itself when idle", True),
    ("construct", "SageMakerEndpoint", "autoscaled inference endpoint on GPU or Inferentia", True),
    ("construct", "ResultsTable", "DynamoDB table of ML outputs and training runs", False),
    (
        "construct",
        "Warehouse",
        "Redshift Serverless with Spectrum over the lake (-c warehouse=true)",
        True,
    ),
    ("construct", "DeviceIngestion", "IoT Core rules from MQTT devices into the stream", False),
    ("construct", "TableExport", "scheduled full, then incremental DynamoDB exports", False),
    ("construct", "BatchJob", "AWS Batch job on Fargate, scheduled, run by Step Functions", True),
    (
        "construct",
        "DatabaseReplication",
        "DMS Serverless MySQL full load and CDC to Parquet (-c dms=true)",
        True,
    ),
    ("construct", "OnPremisesSync", "scheduled, verified DataSync from NFS or SMB", False),
)


class CommandError(Exception):
    """A one-line reason and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _list(_: argparse.Namespace) -> int:
    width = max(len(name) for _, name, _, _ in COMPONENTS)
    for kind in ("stack", "construct"):
        print(f"{kind}s:")
        for component_kind, name, description, opt_in in COMPONENTS:
            if component_kind == kind:
                cost = "  [opt-in: costs while running]" if opt_in else ""
                print(f"  {name:<{width}}  {description}{cost}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ml_blueprints.report import compliance_report, markdown

    outdir = Path(args.outdir)
    if not (outdir / "manifest.json").exists():
        raise CommandError(f"{outdir}/ holds no synthesized app: run `make synth` first")
    try:
        report = compliance_report(outdir)
    except FileNotFoundError as error:
        raise CommandError(str(error)) from None
    except ValueError as error:  # ReportError (a ValueError): corrupt validation-report.json
        raise CommandError(str(error)) from None
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(markdown(report), end="")
    open_findings = sum(len(p["open_findings"]) for p in report["rule_packs"].values())  # type: ignore[union-attr]
    if open_findings:
        raise CommandError(f"{open_findings} unacknowledged findings", exit_code=1)
    return 0


def _cost(args: argparse.Namespace) -> int:
    from ml_blueprints.assembly import AssemblyError
    from ml_blueprints.cost import as_json, estimate, markdown

    try:
        report = estimate(Path(args.outdir))
    except AssemblyError as error:
        raise CommandError(str(error)) from None
    if args.format == "json":
        print(json.dumps(as_json(report), indent=2))
    else:
        print(markdown(report), end="")
    return 0


def _diagram(args: argparse.Namespace) -> int:
    from ml_blueprints.assembly import AssemblyError
    from ml_blueprints.diagram import DiagramError, render

    try:
        drawing = render(Path(args.outdir), args.format)
    except (AssemblyError, DiagramError) as error:
        raise CommandError(str(error)) from None
    if args.output:
        Path(args.output).write_bytes(drawing)
    else:
        sys.stdout.buffer.write(drawing)
        sys.stdout.flush()
    return 0


def _smoke(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError

    from ml_blueprints.smoke import EMULATOR_GAPS, PASSED, SKIPPED, Smoke, SmokeError, table

    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint is not None and not re.fullmatch(r"https?://[^\s/]+/?", endpoint):
        raise CommandError(
            f"endpoint URL {endpoint!r}: expected http(s)://host[:port], e.g. http://127.0.0.1:4566"
        )
    if args.emulator and endpoint is None:
        raise CommandError(
            "--emulator needs the emulator's address: --endpoint-url URL (or AWS_ENDPOINT_URL)"
        )
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as error:  # ProfileNotFound, ConfigParseError, ...
        raise CommandError(str(error)) from None

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        smoke = Smoke(
            session,
            env_name=args.stack,
            records=args.records,
            timeout=args.timeout,
            poll_seconds=args.poll,
            progress=progress,
            endpoint_url=args.endpoint_url,
            unsupported=EMULATOR_GAPS if args.emulator else None,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    except BotoCoreError as error:
        raise CommandError(str(error)) from None
    print(f"smoke test of mlbp-{args.stack}-* (run {smoke.run.run_id})", file=sys.stderr)
    try:
        run = smoke.execute()
    except SmokeError as error:
        print(table(smoke.run.stages))
        raise CommandError(f"{error.stage}: {error.message}", error.exit_code) from None
    except BotoCoreError as error:  # e.g. a malformed AWS_CONFIG_FILE, read at first client
        print(table(smoke.run.stages))
        raise CommandError(f"{type(error).__name__}: {error}") from None
    print(table(run.stages))
    return 0 if all(s.status in (PASSED, SKIPPED) for s in run.stages) else 1


def parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand per check)."""
    root = argparse.ArgumentParser(
        prog="ml-blueprints",
        description="Reference ML data platform on AWS: list it, report on a synth, smoke-test "
        "a deployment.",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="every stack and construct, and which cost money",
        description="List every stack and construct with a one-line "
        "description and whether it is opt-in for cost.",
    )
    listing.set_defaults(run=_list)
    report = commands.add_parser(
        "report",
        help="the compliance report of a synthesized app",
        description="Per stack: resource counts by type; every acknowledged finding with its "
        "reason and construct path; the rule packs that ran. Exits 1 on open findings.",
    )
    report.add_argument("--format", choices=("md", "json"), default="md", help="default: md")
    report.add_argument("--outdir", default="cdk.out", help="the cloud assembly (default: cdk.out)")
    report.set_defaults(run=_report)
    cost = commands.add_parser(
        "cost",
        help="idle cost per stack and the price of what runs, from cdk.out",
        description="Put every resource of a synthesized app (this one or yours) in one cost "
        "class (billed by the hour while it exists, while it runs, by usage only, free) and "
        "price the idle part from the shipped us-east-1 price table: dollars a month per "
        "stack and in total, and the price per hour of each resource billed while it runs.",
    )
    cost.add_argument("--format", choices=("md", "json"), default="md", help="default: md")
    cost.add_argument("--outdir", default="cdk.out", help="the cloud assembly (default: cdk.out)")
    cost.set_defaults(run=_cost)
    diagram = commands.add_parser(
        "diagram",
        help="the architecture drawn from cdk.out (Mermaid; SVG/PNG with Graphviz)",
        description="One node per meaningful resource, grouped by stack, with the data flow "
        "as edges. Mermaid text needs nothing to render on GitHub; dot, svg and png use "
        "Graphviz (svg and png need its `dot` on the PATH).",
    )
    diagram.add_argument(
        "--format",
        choices=("mermaid", "dot", "svg", "png"),
        default="mermaid",
        help="default: mermaid",
    )
    diagram.add_argument(
        "--outdir", default="cdk.out", help="the cloud assembly (default: cdk.out)"
    )
    diagram.add_argument("--output", default=None, help="write to this file (default: stdout)")
    diagram.set_defaults(run=_diagram)
    smoke = commands.add_parser(
        "smoke",
        help="end-to-end check of a deployed environment",
        description="Write synthetic events (some malformed) to the real-time stream, wait for "
        "Firehose to deliver the good ones to the raw prefix and the bad ones to the error "
        "prefix, then (with the analytics layer) crawl and count them with Athena. Cleans up "
        "only what it wrote.",
    )
    smoke.add_argument(
        "--stack",
        default="dev",
        metavar="ENV",
        help="environment name of the stacks, mlbp-ENV-* (default: dev)",
    )
    smoke.add_argument(
        "--records",
        type=int,
        default=20,
        help="events to write; a fifth of them malformed (default: 20)",
    )
    smoke.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds to wait for each stage (default: 900; Firehose buffers "
        "up to the delivery stream's interval)",
    )
    smoke.add_argument("--poll", type=float, default=15, help="seconds between checks (15)")
    smoke.add_argument("--region", default=None, help="AWS region (default: from the profile)")
    smoke.add_argument("--profile", default=None, help="AWS profile (default: the default)")
    smoke.add_argument(
        "--endpoint-url",
        default=None,
        metavar="URL",
        help="send every AWS call to URL, e.g. a local emulator (default: AWS, or "
        "AWS_ENDPOINT_URL when set)",
    )
    smoke.add_argument(
        "--emulator",
        action="store_true",
        help="the endpoint is the local MiniStack emulator (make local-deploy): report the "
        "stages it cannot run as skipped, with the reason",
    )
    smoke.set_defaults(run=_smoke)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
