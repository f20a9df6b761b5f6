"""Start a local MiniStack, point the pinned CDK CLI and boto3 at it, stop it by process id.

:class:`Emulator` runs MiniStack from its own virtual environment (``.venv-emulator``, made by
``make emulator``) through :mod:`emulator.ministack_extras`, bound to 127.0.0.1 on a free
port, in a new process group under a hard time limit (coreutils ``timeout``), with its own
temporary directory. :meth:`Emulator.stop` ends that process group by its id, which also ends
the Lambda workers MiniStack started. :meth:`Emulator.cdk` runs ``node_modules/.bin/cdk``
against it; :meth:`Emulator.client` gives boto3 clients for it.

MiniStack runs Lambda functions as local processes: Python functions with its own
interpreter, Node.js ones with ``node`` from ``PATH`` (the project's Node, from
``.venv/node-shims``) and the AWS SDK v3 clients CDK's handlers import from ``NODE_PATH``
(``node_modules``, pinned as devDependencies in ``package.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EMULATOR_PYTHON = ROOT / ".venv-emulator" / "bin" / "python"
EXTRAS = ROOT / "emulator" / "ministack_extras.py"
CDK = ROOT / "node_modules" / ".bin" / "cdk"
NODE_SHIMS = ROOT / ".venv" / "node-shims"
ACCOUNT = "000000000000"  # MiniStack's account
REGION = "us-east-1"
#: Credentials MiniStack accepts (it does not check them unless told to).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


class EmulatorError(RuntimeError):
    """The emulator did not start, or a command against it failed (with its output)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class CdkRun:
    """One CDK CLI run: its arguments, exit code, combined output and wall time."""

    args: list[str]
    returncode: int
    output: str
    seconds: float

    def check(self) -> CdkRun:
        if self.returncode != 0:
            tail = "\n".join(self.output.splitlines()[-40:])
            raise EmulatorError(f"cdk {' '.join(self.args)} exited {self.returncode}:\n{tail}")
        return self


@dataclass
class Emulator:
    """One MiniStack instance on 127.0.0.1.

    ``port``: a free one when ``None``. ``time_limit``: seconds after which the process is
    ended whatever happens (default 600). ``log``: where its output goes (default: a file in
    its temporary directory).
    """

    name: str = "ministack"
    port: int | None = None
    time_limit: float = 600
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    workdir: Path | None = field(default=None, init=False)

    # ------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Emulator:
        """Start MiniStack and wait until it answers its health check. On a port it chose
        itself that another program took in the meantime, it tries another (3 times)."""
        if not EMULATOR_PYTHON.exists():
            raise EmulatorError(f"{EMULATOR_PYTHON} is missing: run `make emulator` first")
        chosen = self.port is None
        for attempt in range(3):
            try:
                return self._start(timeout)
            except EmulatorError as error:
                if not (chosen and "already in use" in str(error)) or attempt == 2:
                    raise
                if self.log is not None and self.log.parent == self.workdir:
                    self.log = None  # the next attempt logs in its own directory
                self.remove_workdir()
                self.port = None
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> Emulator:
        self.port = self.port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mlbp-{self.name}-"))
        self.log = self.log or self.workdir / "ministack.log"
        env = {
            **os.environ,
            **CREDENTIALS,
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",  # loopback only
            "IOT_MTLS_ENABLED": "0",  # no MQTT listener (it binds every interface)
            "SFTP_ENABLED": "0",
            "PERSIST_STATE": "0",
            "S3_PERSIST": "0",
            "MINISTACK_REGION": REGION,
            "LOG_LEVEL": os.environ.get("EMULATOR_LOG_LEVEL", "WARNING"),
            "TMPDIR": str(self.workdir),  # its pid file, Lambda code and logs stay in here
            "NODE_PATH": str(ROOT / "node_modules"),
            "PATH": f"{NODE_SHIMS}{os.pathsep}{os.environ.get('PATH', '')}",
            "DOCKER_HOST": f"unix://{self.workdir}/no-docker.sock",  # never look for Docker
        }
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.pop(key, None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    "timeout",
                    "--signal=TERM",
                    "--kill-after=10",
                    f"{self.time_limit:g}",
                    str(EMULATOR_PYTHON),
                    str(EXTRAS),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,  # its own process group, ended by id in stop()
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmulatorError(f"MiniStack exited {self.process.returncode}: {self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise EmulatorError(f"MiniStack did not answer on {self.url} in {timeout:g} s")

    def stop(self) -> None:
        """End the emulator's process group (MiniStack and its Lambda workers) by its id."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)  # the group start_new_session made, id == pid
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def remove_workdir(self) -> None:
        """Delete its temporary directory (Lambda code, its log): after :meth:`stop`."""
        if self.process is None and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        return self._tail(lines)

    def _tail(self, lines: int = 30) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    # ---------------------------------------------------------------------------- clients

    def environment(self) -> dict[str, str]:
        """Environment variables that point the CDK CLI, boto3 and the AWS CLI at it."""
        return {
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }

    def client(self, service: str) -> Any:
        import boto3  # the project's boto3, not the emulator's botocore

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def cdk(
        self,
        *args: str,
        app: Path | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> CdkRun:
        """Run the pinned CDK CLI against the emulator (``--app`` an assembly directory: no
        synth). Raises :class:`EmulatorError` with the output's tail when it fails."""
        command = [str(CDK), *args, "--no-notices", "--no-color"]
        if app is not None:
            command += ["--app", str(Path(app).resolve())]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **self.environment(),
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "true",
            "PATH": f"{NODE_SHIMS}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        started = time.monotonic()
        # cwd without a cdk.json: the CLI never synthesizes on its own
        done = subprocess.run(
            command,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        run = CdkRun(list(args), done.returncode, done.stdout, time.monotonic() - started)
        return run.check() if check else run

    def bootstrap(self) -> CdkRun:
        """``cdk bootstrap`` of MiniStack's account and region."""
        return self.cdk("bootstrap", f"aws://{ACCOUNT}/{REGION}")

    def deploy(self, app: Path, *stacks: str, exclusively: bool = False) -> CdkRun:
        """``cdk deploy`` of ``stacks`` (default: all) from an assembly, without prompts."""
        args = ["deploy", *(stacks or ["--all"]), "--require-approval", "never"]
        args += ["--concurrency", "4", "--progress", "events"]
        if exclusively:
            args.append("--exclusively")
        return self.cdk(*args, app=app)

    def destroy(self, app: Path, *stacks: str, exclusively: bool = False) -> CdkRun:
        """``cdk destroy --force`` of ``stacks`` (default: all) from an assembly."""
        args = ["destroy", *(stacks or ["--all"]), "--force"]
        if exclusively:
            args.append("--exclusively")
        return self.cdk(*args, app=app)

    def outputs(self, stack_name: str) -> dict[str, str]:
        """A deployed stack's outputs."""
        stack = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def synthesize(assemblies: dict[str, dict[str, str]], outdir: Path) -> subprocess.Popen[str]:
    """Start synthesizing the project's app once per context, each into ``outdir/<name>``, in
    one background process (one jsii start-up for all). ``<name>/.done`` appears when that
    assembly is complete; see :func:`wait_for`."""
    spec = json.dumps({name: {**context} for name, context in assemblies.items()})
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "emulator.synth", str(outdir), spec],
        cwd=ROOT,
        env={**os.environ, "CDK_VALIDATION": "false"},  # make synth validates the schema
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    assembly: Path, synth: subprocess.Popen[str] | None = None, timeout: float = 300
) -> Path:
    """Wait until ``assembly`` is synthesized; raise with the synth's output if it failed."""
    deadline = time.monotonic() + timeout
    while not (assembly / ".done").exists():
        if synth is not None and synth.poll() is not None and not (assembly / ".done").exists():
            output = synth.stdout.read() if synth.stdout else ""
            raise EmulatorError(f"synth of {assembly.name} failed:\n{output[-4000:]}")
        if time.monotonic() > deadline:
            raise EmulatorError(f"synth of {assembly.name} took more than {timeout:g} s")
        time.sleep(0.1)
    return assembly


def stack_dependencies(assembly: Path) -> dict[str, list[str]]:
    """Stack id -> every stack it depends on, directly or not (what ``cdk deploy`` without
    ``--exclusively`` deploys first), from an assembly's manifest, dependencies first."""
    artifacts = json.loads((assembly / "manifest.json").read_text())["artifacts"]
    stacks = {i for i, a in artifacts.items() if a["type"] == "aws:cloudformation:stack"}

    def before(stack_id: str) -> list[str]:
        found: list[str] = []
        for dependency in artifacts[stack_id].get("dependencies", []):
            if dependency in stacks:  # not the asset manifests
                found += [d for d in [*before(dependency), dependency] if d not in found]
        return found

    return {stack_id: before(stack_id) for stack_id in stacks}


def stack_names(assembly: Path, stack_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Stack id -> CloudFormation stack name, from an assembly's manifest."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    return {
        artifact_id: artifact["properties"].get("stackName", artifact_id)
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
        and (stack_ids is None or artifact_id in stack_ids)
    }
