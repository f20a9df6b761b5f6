"""The emulator deploy test's session: one background synth of every assembly, and the
scenarios, each on its own fresh MiniStack, started in parallel as soon as the tests are
collected. Run with ``make deploy-test`` (``make test`` leaves this directory out)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from emulator.harness import synthesize
from tests.deploy.scenarios import (
    ALONE_PARTS,
    ASSEMBLIES,
    LAYERS,
    Alone,
    AloneParts,
    Retained,
    Scenario,
    Together,
)

#: The records that end a CLI or data-path step: the summary says when each was made.
STEPS = {"bootstrap", "deploy", "described", "data_path", "smoke", "redeploy", "update"}
STEPS |= {"destroy", "opt-in"}


class DeployRun:
    """The synth process and the scenarios of this session."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.outdir = Path(tempfile.mkdtemp(prefix="mlbp-deploy-test-"))
        self.synth: subprocess.Popen[str] = synthesize(ASSEMBLIES, self.outdir)
        self.scenarios: dict[str, Scenario] = {
            "together": Together("together", self.outdir, self.synth),
            **self.alone(),
            "retained": Retained("retained", self.outdir, self.synth),
        }
        for scenario in self.scenarios.values():
            scenario.start()

    def alone(self) -> dict[str, Scenario]:
        """The layers deployed alone, in parallel parts (each picks its layers once the
        assembly says what each depends on); the last also tries the opt-ins."""
        return {
            f"alone-{i + 1}": Alone(f"alone-{i + 1}", self.outdir, self.synth, part=i)
            for i in range(ALONE_PARTS)
        }

    @property
    def alone_scenarios(self) -> list[Scenario]:
        return [s for name, s in self.scenarios.items() if name.startswith("alone-")]

    def finish(self) -> None:
        for scenario in self.scenarios.values():
            scenario.join(600)
            if scenario.emulator is not None:
                scenario.emulator.stop()  # in case the thread is stuck: the time limit holds too
        if self.synth.poll() is None:
            self.synth.kill()
        shutil.rmtree(self.outdir, ignore_errors=True)


_RUN: DeployRun | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _RUN
    if session.config.option.collectonly:
        return
    if any(item.nodeid.startswith("tests/deploy/") for item in session.items):
        _RUN = DeployRun()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _RUN is not None:
        _RUN.finish()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per layer deployed alone: CDK CLI and CloudFormation seconds, resources created; the
    wall time of each scenario and of the whole run."""
    if _RUN is None:
        return
    write = terminalreporter.write_line
    alone = {k: v for s in reversed(_RUN.alone_scenarios) for k, v in s.observed.items()}
    write("")
    write("deploy test: each layer alone on a fresh emulator (seconds: cdk CLI / CloudFormation)")
    for layer in LAYERS:
        deployed = alone.get(f"deploy {layer}")
        if deployed:
            kinds = Counter(r["type"] for r in deployed["resources"].values())
            write(
                f"  {layer:<10} {deployed['cli_seconds']:5.1f} s / "
                f"{deployed['cloudformation_seconds']:4.1f} s  {len(deployed['resources']):3} "
                f"resources ({len(kinds)} types)"
            )
    for name, scenario in _RUN.scenarios.items():
        seconds = f"{scenario.seconds:.1f} s" if scenario.seconds is not None else "not finished"
        write(f"  scenario {name}: {seconds}{' (FAILED)' if scenario.error else ''}")
        steps = [(k, at) for k, at in scenario.timeline.items() if k.split(" ")[0] in STEPS]
        write("    " + ", ".join(f"{key} at {at:.0f} s" for key, at in steps))
    write(f"  deploy test wall time: {time.monotonic() - _RUN.started:.1f} s")


@pytest.fixture(scope="session")
def deploy_run() -> DeployRun:
    assert _RUN is not None, "the deploy scenarios were not started"
    return _RUN


@pytest.fixture(scope="session")
def together(deploy_run: DeployRun) -> Scenario:
    return deploy_run.scenarios["together"]


@pytest.fixture(scope="session")
def alone(deploy_run: DeployRun) -> AloneParts:
    return AloneParts(*deploy_run.alone_scenarios)


@pytest.fixture(scope="session")
def retained(deploy_run: DeployRun) -> Scenario:
    return deploy_run.scenarios["retained"]
