"""The apps the suite runs as their users run them, with `cdk synth`: the examples, the
project's app in sandbox mode with no opt-in, and a consumer's own app.

Each runs as the CDK CLI runs an app (tests/app_runner.py): its script as ``__main__``, from
an output directory outside the repository, with only the context it is given
(``CDK_CONTEXT_JSON``). They run one after the other in one fresh process, so the seconds a
process spends importing aws_cdk and starting jsii are spent once. That process has no
context from this repository or the test session (no ``CDK_*`` or ``JSII_*`` variable, no
``PYTHONPATH``) and the machine's end-of-life Node first on PATH: the package's .pth file has
to give jsii a supported Node. It starts in the background as soon as the test session
starts (tests/conftest.py), at the lowest priority, and each test waits for the apps it
reads.

CDK's own CloudFormation schema validation is off here, as in the rest of the suite
(tests/conftest.py): cfn-lint checks the templates instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import FEATURE_FLAGS, ROOT, in_background

RUNNER = ROOT / "tests" / "app_runner.py"
MARK = "\x1emlbp-app-run "  # tests/app_runner.py's result lines
EXAMPLES = ROOT / "examples"
WEAK = {"@aws-cdk/core:defaultCrossStackReferences": "weak"}


@dataclass
class AppRun:
    """One app of the run: once :meth:`wait` returns, its exit status, what it printed and
    its output directory."""

    name: str
    script: Path
    context: dict[str, Any] | None = None
    outdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mlbp-app-")))
    status: int | None = None
    output: str = ""
    error: str = ""
    seconds: float = 0.0
    jsii_node: str | None = None  # the Node jsii was given; None: the first on PATH
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float = 1200) -> AppRun:
        start()
        assert self.done.wait(timeout), f"{self.name} did not finish within {timeout} s"
        return self

    def templates(self) -> dict[str, dict[str, Any]]:
        return {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted(self.outdir.glob("*.template.json"))
        }


#: In the order they run. The examples that cfn-lint checks come first, the one with the most
#: templates (nine) first: their lint is the longest wait at the end of the suite. Then the
#: two apps the cost and diagram tests read, then the multi-stack example with weak
#: references, which is not linted.
RUNS: dict[str, AppRun] = {
    run.name: run
    for run in (
        AppRun("multi_stack", EXAMPLES / "multi_stack" / "app.py"),
        AppRun("single_stack", EXAMPLES / "single_stack" / "app.py"),
        AppRun("lake", EXAMPLES / "lake" / "app.py"),
        # What the README's headline idle cost is of.
        AppRun("sandbox-default", ROOT / "app.py", {**FEATURE_FLAGS, "sandbox": "true"}),
        # No context at all: CDK's defaults, as in an app of the user's own.
        AppRun("consumer", ROOT / "tests" / "cli" / "consumer_app.py", {}),
        AppRun("multi_stack_weak", EXAMPLES / "multi_stack" / "app.py", WEAK),
    )
}
_process: list[subprocess.Popen[str]] = []
_STDERR = Path(tempfile.gettempdir()) / f"mlbp-app-runs-{os.getpid()}.log"


def environment() -> dict[str, str]:
    """The caller's environment without anything this repository or the test session
    set (CDK context, JSII_NODE), with the machine's own Node first on PATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CDK_", "JSII_")) and key != "PYTHONPATH"
    }
    system_dirs = [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if Path(d).is_dir()]
    env["PATH"] = os.pathsep.join([*system_dirs, env.get("PATH", "")])
    env["CDK_VALIDATION"] = "false"  # cfn-lint checks the templates (see the docstring)
    return env


def start() -> None:
    """Start the process that runs every app of :data:`RUNS` (once)."""
    if _process:
        return
    plan = [
        {"name": r.name, "script": str(r.script), "outdir": str(r.outdir), "context": r.context}
        for r in RUNS.values()
    ]
    with _STDERR.open("w") as errors:
        process = subprocess.Popen(
            # -P: not the runner's directory first on sys.path (tests/constructs would
            # hide the constructs library); each app gets its own script's directory.
            in_background([sys.executable, "-P", str(RUNNER)]),
            cwd=tempfile.gettempdir(),  # outside the repository: no cdk.json anywhere above
            env=environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    _process.append(process)
    assert process.stdin is not None
    process.stdin.write(json.dumps(plan))
    process.stdin.close()
    threading.Thread(target=_read, args=(process,), name="app-runs", daemon=True).start()


def _read(process: subprocess.Popen[str]) -> None:
    """Record each app's result as its line arrives; at the end, fail the apps that never
    reported (the process died), with its stderr."""
    assert process.stdout is not None
    printed: list[str] = []
    for line in process.stdout:
        if not line.startswith(MARK):
            printed.append(line)
            continue
        result = json.loads(line.removeprefix(MARK))
        run = RUNS[result["name"]]
        run.status, run.error, run.seconds = result["status"], result["error"], result["seconds"]
        run.jsii_node = result["jsii_node"]
        run.output, printed = "".join(printed), []
        run.done.set()
    process.wait()
    for run in RUNS.values():
        if not run.done.is_set():
            run.status = process.returncode or 1  # it never reported: a failure either way
            run.error = f"the app runner ended ({process.returncode}): {stderr()[-3000:]}"
            run.done.set()


def stderr() -> str:
    """What the runner's process (the apps, jsii, Node) wrote on stderr so far."""
    return _STDERR.read_text(errors="replace") if _STDERR.exists() else ""


def finished(name: str) -> AppRun:
    """The run of ``name``, once it has finished cleanly."""
    run = RUNS[name].wait()
    assert run.status == 0, run.error[-4000:] or stderr()[-3000:]
    return run


def timings() -> dict[str, float]:
    """Wall seconds of each app that has finished (for the session summary)."""
    return {name: run.seconds for name, run in RUNS.items() if run.done.is_set()}


def clean_up() -> None:
    """Stop the process if it is still running (the session did not wait for it), then
    remove the apps' output directories and the log."""
    if _process and _process[0].poll() is None:
        _process[0].kill()
        _process[0].wait()
    for run in RUNS.values():
        shutil.rmtree(run.outdir, ignore_errors=True)
    _STDERR.unlink(missing_ok=True)


def outdir_of(name: str) -> Path:
    """The output directory of ``name``, once it has finished cleanly."""
    return finished(name).outdir
