#!/usr/bin/env python3
"""Synth and test-suite timings, in one run (``make bench``; not part of the test suite).

Prints the median wall time of synthesizing the whole app with every rule pack (as the CDK
CLI runs ``app.py``: cdk.json's context, a fresh output directory), of synthesizing an empty
CDK app (the floor that starting jsii and Node alone costs), their ratio, the same for the
multi-stack example as a consumer runs it (no context at all), and the wall time of the test
suite. Targets: the app within 1.5x the empty-app floor; the suite within 60 s
on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMPTY_APP = "import ml_blueprints, aws_cdk as cdk; cdk.App().synth()"


def _environment(outdir: str, context: dict[str, object]) -> dict[str, str]:
    env = dict(os.environ)
    env["CDK_OUTDIR"] = outdir
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def median_synth(command: list[str], context: dict[str, object], runs: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as outdir:
            times.append(timed(command, _environment(outdir, context)))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="synth runs per median (3)")
    parser.add_argument("--skip-tests", action="store_true", help="do not time the test suite")
    parser.add_argument(
        "--all-layers",
        action="store_true",
        help="synthesize the opt-in layers too (emr, ml_notebook)",
    )
    args = parser.parse_args()
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    if args.all_layers:
        context = {**context, "emr": True, "ml_notebook": True}
    python = sys.executable
    app = median_synth([python, "app.py"], context, args.runs)
    empty = median_synth([python, "-c", EMPTY_APP], context, args.runs)
    print(f"whole app, every rule pack (median of {args.runs}): {app:6.1f} s")
    print(f"empty CDK app, the jsii floor (median of {args.runs}): {empty:6.1f} s")
    print(f"ratio: {app / empty:.2f}x (target: 1.5x)")
    example = median_synth([python, "examples/multi_stack/app.py"], {}, args.runs)
    bare = median_synth([python, "-c", EMPTY_APP], {}, args.runs)
    print(f"multi-stack example, no context (median of {args.runs}): {example:6.1f} s")
    print(f"empty CDK app, no context (median of {args.runs}): {bare:6.1f} s")
    print(f"ratio: {example / bare:.2f}x")
    if not args.skip_tests:
        # as `make test` runs it: the Spark tests' class archive first (once)
        subprocess.run([python, "-m", "tests.runtime.spark_jvm"], check=True, cwd=ROOT)
        suite = timed([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], dict(os.environ))
        print(f"test suite: {suite:6.1f} s (target: 60 s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
