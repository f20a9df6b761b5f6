"""Session fixtures: each app is synthesized once, with the rule packs, and tests read the
templates from it. A compliance finding fails the fixture, and so every test that uses it."""

from __future__ import annotations

import gc
import os

from ml_blueprints.toolchain import use_supported_node

# The session's process keeps every module it imports and every app it synthesizes until it
# ends (about 900,000 objects), and Python's cycle collector walks them all at each full
# collection: with its default thresholds, 19 full collections a run, and 5 to 6 s of
# collecting in all. Collecting the young objects every 20,000 allocations instead of 700
# leaves one full collection and about 1.5 s, and what exists once the tests are collected is
# frozen (see pytest_collection_finish). Cycles are still collected, and pytest still reports
# exceptions raised while they are.
gc.set_threshold(20_000, 20, 10)

use_supported_node()  # before aws_cdk starts jsii
# CDK's built-in CloudFormation schema validation (a WASM engine: about 1.7 s per synth) is
# left to `make synth`; here every template goes through cfn-lint instead (see Synthesized).
os.environ.setdefault("CDK_VALIDATION", "false")

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import Future  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402
import pytest  # noqa: E402

# aws_cdk and the package (about 1.5 s of imports, with jsii's start) are imported where they
# are used, so that pytest_configure starts the background work (below) that much earlier: the
# test modules import them anyway, while the background work runs.
if TYPE_CHECKING:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from ml_blueprints.config import Settings

ROOT = Path(__file__).resolve().parents[1]

_DATA_LOADERS: dict[str | None, botocore.loaders.Loader] = {}


def _shared_data_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """One botocore data loader per search path for the whole test session. Each boto3
    session (the tests', moto's, the smoke command's) would otherwise parse the same service
    models and endpoint rules again: about 25 ms a client, a hundred clients a run. The
    models are read-only, as within one botocore session, which already shares them."""
    if search_path_string not in _DATA_LOADERS:
        _DATA_LOADERS[search_path_string] = botocore.loaders.create_loader(search_path_string)
    return _DATA_LOADERS[search_path_string]


botocore.session.create_loader = _shared_data_loader  # type: ignore[attr-defined]

MODEL_DATA_URL = "s3://acme-models/mlbp-1234/output/model.tar.gz"
#: The Ingestion stack's opt-ins, as a user gives them: a MySQL source for DMS (the secret
#: stands for the user's; nothing here connects to it), a Batch image, a DataSync agent and
#: an SMB share.
INGESTION_OPT_INS: dict[str, str] = {
    "dms": "true",
    "dms_source_host": "mysql.shop.internal",
    "dms_source_database": "shop",
    "dms_source_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/dms-AbCdEf",
    "dms_source_cidr": "10.1.0.0/16",
    "batch_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/scorer:1.4.2",
    "datasync_agent_arn": "arn:aws:datasync:us-east-1:123456789012:agent/agent-0123456789abcdef0",
    "datasync_source": "smb://files.corp.example.com/share/sensors",
    "datasync_smb_user": "svc-datasync",
    "datasync_smb_domain": "corp.example.com",
    "datasync_smb_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
    "files/smb-AbCdEf",
}

#: The feature flags from cdk.json, which the CLI passes to app.py; tests pass them too. They
#: are its namespaced keys (``@aws-cdk/...``); the others are the app's own settings
#: (tests/test_config.py checks that these are all of ml_blueprints.config.CONTEXT_KEYS).
FEATURE_FLAGS: dict[str, Any] = {
    key: value
    for key, value in json.loads((ROOT / "cdk.json").read_text())["context"].items()
    if key.startswith("@")
}


#: Background work runs at this niceness, so the tests in the main process (the critical
#: path on two cores) keep their core and the background fills what is left.
BACKGROUND_NICENESS = 19
#: cfn-lint is the longest of the background work and the tests that wait for it run last:
#: it comes before the rest of the background work, after the tests.
LINT_NICENESS = 10


def in_background(command: list[str], niceness: int = BACKGROUND_NICENESS) -> list[str]:
    """``command`` run at ``niceness`` (as is where there is no ``nice``)."""
    nice = shutil.which("nice")
    return [nice, "-n", str(niceness), *command] if nice else command


class LintServer:
    """The session's cfn-lint process (tests/lint_server.py), in the background: it loads
    cfn-lint's rules once and lints each batch of templates as soon as it is submitted, in
    the order of submission, while the tests go on."""

    def __init__(self) -> None:
        # A file, not a pipe: a pipe that no one reads could fill up and stop the process.
        self._stderr = Path(tempfile.gettempdir()) / f"mlbp-cfn-lint-{os.getpid()}.log"
        with self._stderr.open("w") as errors:
            self.process = subprocess.Popen(
                in_background(
                    [sys.executable, str(ROOT / "tests" / "lint_server.py")], LINT_NICENESS
                ),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self._pending: deque[Future[list[dict[str, Any]]]] = deque()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="cfn-lint", daemon=True).start()

    def submit(self, templates: list[str]) -> Future[list[dict[str, Any]]]:
        """cfn-lint's matches (as `cfn-lint --format json` gives them) on ``templates``."""
        assert self.process.stdin is not None
        future: Future[list[dict[str, Any]]] = Future()
        with self._lock:
            self._pending.append(future)
            self.process.stdin.write(json.dumps(templates) + "\n")
            self.process.stdin.flush()
        return future

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            answer = json.loads(line)
            with self._lock:
                future = self._pending.popleft()
            if isinstance(answer, dict):
                future.set_exception(RuntimeError(f"cfn-lint failed: {answer['error']}"))
            else:
                future.set_result(answer)
        self.process.wait()
        error = RuntimeError(
            f"cfn-lint ended ({self.process.returncode}): {self._stderr.read_text()}"
        )
        self._stderr.unlink(missing_ok=True)
        with self._lock:
            while self._pending:
                self._pending.popleft().set_exception(error)

    def close(self) -> None:
        """End the process once it has answered every batch."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


_lint_server: list[LintServer] = []


def lint_server() -> LintServer:
    """The session's :class:`LintServer`, started on first use."""
    if not _lint_server:
        _lint_server.append(LintServer())
    return _lint_server[0]


@dataclass
class Synthesized:
    """A synthesized app: its stacks' templates, read once and cached.

    cfn-lint (about a second per template) runs on the templates in the background, in the
    session's :class:`LintServer`, from the moment the app is synthesized.
    """

    app: cdk.App
    outdir: Path
    settings: Settings | None = None
    _templates: dict[str, Template] = field(default_factory=dict)
    _lint: Future[list[dict[str, Any]]] | None = None

    def template_paths(self) -> list[str]:
        return sorted(str(p) for p in self.outdir.glob("*.template.json"))

    def start_lint(self) -> None:
        """Submit the templates to cfn-lint, in the background."""
        self._lint = lint_server().submit(self.template_paths())

    def lint_matches(self) -> list[dict[str, Any]]:
        """Every cfn-lint match (errors, warnings, informational) on this app's templates."""
        assert self._lint is not None, "start_lint() was not called"
        return self._lint.result(timeout=900)

    def stack(self, stack_id: str) -> cdk.Stack:
        return self.app.node.find_child(stack_id)  # type: ignore[return-value]

    def template(self, stack_id: str) -> Template:
        from aws_cdk.assertions import Template

        if stack_id not in self._templates:
            self._templates[stack_id] = Template.from_json(self.template_json(stack_id))
        return self._templates[stack_id]

    def template_json(self, stack_id: str) -> dict[str, Any]:
        artifact = self.stack(stack_id).artifact_id
        return json.loads((self.outdir / f"{artifact}.template.json").read_text())

    def resources(self, stack_id: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template_json(stack_id)["Resources"].items()
            if resource["Type"] == resource_type
        }


def synth_project_app(outdir: Path, **context: Any) -> Synthesized:
    """Build and synthesize the project's app exactly as app.py does, with ``context``."""
    from ml_blueprints.app import build_app

    app, settings = build_app(context={**FEATURE_FLAGS, **context}, outdir=str(outdir))
    app.synth()
    synthesized = Synthesized(app=app, outdir=outdir, settings=settings)
    synthesized.start_lint()
    return synthesized


def synth_stacks(outdir: Path, build: Callable[[cdk.App], None]) -> Synthesized:
    """Synthesize an app of test stacks made by ``build``, with the same rule packs."""
    import aws_cdk as cdk

    from ml_blueprints.compliance import apply_rule_packs

    app = cdk.App(context=FEATURE_FLAGS, outdir=str(outdir))
    build(app)
    apply_rule_packs(app)
    app.synth()
    synthesized = Synthesized(app=app, outdir=outdir)
    synthesized.start_lint()
    return synthesized


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The project's app with the default configuration (data retained)."""
    return synth_project_app(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def sandbox_project(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The project's app in sandbox mode (everything destroyed with its stack), with every
    opt-in (cost-bearing) layer switched on."""
    return synth_project_app(
        tmp_path_factory.mktemp("cdk-sandbox"),
        sandbox="true",
        env_name="sbx",
        emr="true",
        ml_notebook="true",
        ml_endpoint="true",
        ml_model_data_url=MODEL_DATA_URL,
        warehouse="true",
        **INGESTION_OPT_INS,
    )


@pytest.fixture(scope="session")
def all_apps(
    project: Synthesized, sandbox_project: Synthesized, construct_variants: Synthesized
) -> list[Synthesized]:
    """Every app the session synthesizes, for checks that apply to all of them."""
    return [project, sandbox_project, construct_variants]


@pytest.fixture(scope="session")
def construct_variants(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The constructs with non-default props, one stack each, synthesized once."""
    from tests.constructs.variants import build_variants

    return synth_stacks(tmp_path_factory.mktemp("cdk-variants"), build_variants)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/deploy (the emulator deploy test, `make deploy-test`) is collected only when it
    is named on the command line: `make test` and a bare `pytest` leave it out."""
    deploy = ROOT / "tests" / "deploy"
    if collection_path != deploy:
        return None
    here = config.invocation_params.dir
    named = [(here / arg.split("::", 1)[0]).resolve() for arg in config.args]
    return not any(path == deploy or deploy in path.parents for path in named)


#: Test files that wait for background work (started below): they run last, in this order
#: (the work that finishes first first), so the work has the whole suite to finish in.
RUN_LAST = (
    "tests/test_packaging.py",
    "tests/cli/test_cost.py",
    "tests/cli/test_diagram.py",
    "tests/test_lint_server.py",  # its batches wait behind the apps' in cfn-lint's queue
    "tests/test_compliance.py",
    "tests/runtime/test_fine_tuning.py",
    "tests/test_examples.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests of :data:`RUN_LAST` to the end, in their order."""

    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    last = sorted(
        (item for item in items if file_of(item) in RUN_LAST),
        key=lambda item: RUN_LAST.index(file_of(item)),
    )
    if last:
        items[:] = [item for item in items if file_of(item) not in RUN_LAST] + last


#: The test files whose slow, independent work starts in the background (see
#: :func:`start_background_work`).
SPARK_FILES = {
    "tests/runtime/test_spark_etl.py",
    "tests/runtime/test_spark_properties.py",
    "tests/runtime/test_training_data.py",
}


def start_background_work(selected: set[str]) -> None:
    """Start the slow, independent work of the ``selected`` test files in the background, so
    it overlaps with the tests that run first: the Spark JVM, the fine-tuning run (a tiny model
    trained on CPU), the example apps, the wheel, the apps the cost and diagram tests read.
    Each start happens once; a second call starts only what the first did not."""
    if selected & SPARK_FILES:
        from tests.runtime.conftest import start_spark

        start_spark()
    if "tests/runtime/test_fine_tuning.py" in selected:
        from tests.runtime.test_fine_tuning import start_background_run

        start_background_run()
    if selected & {"tests/test_examples.py", "tests/cli/test_cost.py", "tests/cli/test_diagram.py"}:
        from tests import app_runs

        app_runs.start()
    if "tests/test_examples.py" in selected:
        from tests.test_examples import start_examples

        start_examples()
    if "tests/test_packaging.py" in selected:
        from tests.test_packaging import start_build

        start_build()


def runs_the_whole_suite(config: pytest.Config) -> bool:
    """Whether this session runs every test (`make test`, a bare `pytest`): the whole test
    directory, no selection by keyword, marker, deselection or earlier failures."""
    option = config.option
    if any(
        getattr(option, name, None)
        for name in ("keyword", "markexpr", "deselect", "lf", "stepwise", "collectonly")
    ):
        return False
    here = config.invocation_params.dir
    return bool(config.args) and all(
        (here / arg).resolve() == ROOT / "tests" for arg in config.args
    )


def pytest_configure(config: pytest.Config) -> None:
    """For the whole suite, the background work starts before the tests are collected (five
    seconds of imports in this process), since every test file is known to run."""
    if runs_the_whole_suite(config):
        lint_server()  # it loads cfn-lint's rules while the tests are collected
        start_background_work(
            {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("test_*.py")}
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """The selected files' background work, if it has not started yet, and the Spark jobs
    of the module fixtures (see tests/runtime/conftest.py), now that they are registered.
    What exists now (the imported modules and the collected tests) lives until the session
    ends: it is moved out of the cycle collector's way (see gc.set_threshold above)."""
    gc.freeze()
    selected = {item.nodeid.split("::", 1)[0] for item in session.items}
    start_background_work(selected)
    if selected & SPARK_FILES:
        from tests.runtime.conftest import prefetch_jobs

        prefetch_jobs(selected)


def pytest_unconfigure(config: pytest.Config) -> None:
    """cfn-lint's process ends once it has answered what it was given."""
    if _lint_server:
        _lint_server[0].close()
    app_runs = sys.modules.get("tests.app_runs")
    if app_runs is not None:
        app_runs.clean_up()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long each app run as a user runs it (tests/app_runs.py) took to synthesize in
    this run (`make bench` times the app and the multi-stack example alone, against an empty
    app)."""
    app_runs = sys.modules.get("tests.app_runs")
    seconds = app_runs.timings() if app_runs is not None else {}
    if seconds:
        terminalreporter.write_line(
            "apps synth (one after the other, one fresh process in the background): "
            + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
        )
