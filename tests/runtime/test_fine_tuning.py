"""The training script (runtime/fine_tuning/train.py) for real, on CPU, lake to served model.

The slow part (about 15 CPU seconds: a two-layer BERT, PyTorch and transformers imports,
three processes) runs in the background from collection on (``tests/runtime/
fine_tuning_run.py``, started by the root conftest), so it overlaps the rest of the suite;
these tests wait for it and assert on what it recorded. Its directory is removed at exit
unless ``MLBP_KEEP_FINE_TUNING`` is set.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from ml_blueprints.constructs.ml.training_pipeline import (
    BUNDLED_ENTRY_POINT,
    BUNDLED_HYPERPARAMETERS,
    BUNDLED_SOURCE_DIR,
    DEFAULT_BASE_MODEL,
    METRIC_DEFINITIONS,
)
from ml_blueprints.constructs.ml.training_pipeline.source import archive_bytes, encoded
from tests.conftest import in_background
from tests.runtime.fine_tuning_run import HYPERPARAMETERS, INTERRUPT_AT_STEP

ROOT = Path(__file__).resolve().parents[2]
#: How long the background run may take before the tests give up on it.
TIMEOUT_SECONDS = 900
#: The job's HyperParameters as the pipeline sets them for the bundled script (the construct
#: tests check the synthesized state machine holds exactly these).
PIPELINE_HYPERPARAMETERS = {
    **BUNDLED_HYPERPARAMETERS,
    "model_id": DEFAULT_BASE_MODEL,
    "sagemaker_program": encoded(BUNDLED_ENTRY_POINT),
    "sagemaker_submit_directory": encoded("/opt/ml/input/data/code/0123abcd.gz"),
    "sagemaker_region": encoded("eu-west-1"),
}

_run: dict[str, Any] = {}


def start_background_run() -> None:
    """Write the job's source archive and hyperparameters, then start the run."""
    if "process" in _run:
        return
    work = Path(tempfile.mkdtemp(prefix="mlbp-fine-tuning-"))
    (work / "sourcedir.tar.gz").write_bytes(archive_bytes(BUNDLED_SOURCE_DIR))
    (work / "hyperparameters.json").write_text(json.dumps(PIPELINE_HYPERPARAMETERS))
    log = (work / "driver.log").open("w")
    process = subprocess.Popen(
        in_background([sys.executable, "-m", "tests.runtime.fine_tuning_run", str(work)]),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # its own process group: stopped with its children
    )
    _run.update(process=process, work=work, started=time.monotonic())
    atexit.register(_stop)


def _stop() -> None:
    """Stop the run if it is still going and remove its directory (at exit)."""
    process = _run.get("process")
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    if "work" in _run and not os.environ.get("MLBP_KEEP_FINE_TUNING"):
        shutil.rmtree(_run["work"], ignore_errors=True)


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    start_background_run()
    process, work = _run["process"], _run["work"]
    try:
        process.wait(timeout=max(1, TIMEOUT_SECONDS - (time.monotonic() - _run["started"])))
    except subprocess.TimeoutExpired:
        _stop()
        pytest.fail(
            f"the fine-tuning run took over {TIMEOUT_SECONDS} s; rerun with "
            "MLBP_KEEP_FINE_TUNING=1 to keep its directory"
        )
    recorded = json.loads((work / "result.json").read_text())
    if "error" in recorded:
        pytest.fail(f"the fine-tuning run failed:\n{recorded['error']}\n{recorded}")
    recorded["work"] = str(work)
    print(f"\nfine-tuning run: {recorded['steps']}", file=sys.stderr)
    return recorded


def _metrics_lines(stdout: list[str]) -> list[dict[str, float]]:
    lines = []
    for line in stdout:
        if line.startswith("[metrics] "):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            lines.append({key: float(value) for key, value in fields.items()})
    return lines


def test_the_data_step_makes_the_training_set(result: dict[str, Any]) -> None:
    prep = result["prep"]
    assert prep["returncode"] == 0, prep["stderr"]
    summary = prep["summary"]
    assert summary["read"] == result["events"]["events"] == 320
    assert summary["rejected_by_reason"]["missing_text"] == 2
    assert summary["rejected_by_reason"]["missing_label"] == 1
    assert summary["read"] == summary["train"] + summary["validation"] + summary["rejected"]


def test_the_source_archive_is_the_script_directory(result: dict[str, Any]) -> None:
    assert result["source"] == {"files": ["__init__.py", "train.py"], "program": "train.py"}


def test_a_sigterm_checkpoints_and_exits_without_a_model(result: dict[str, Any]) -> None:
    run = result["interrupted"]
    assert run["returncode"] == 143, run["stderr_tail"]
    assert run["signalled_at_step"] == INTERRUPT_AT_STEP
    [checkpoint] = run["checkpoints"]
    step = int(checkpoint.removeprefix("checkpoint-"))
    # Saved at the end of the step in progress, before the first evaluation (step 10).
    assert INTERRUPT_AT_STEP <= step < int(HYPERPARAMETERS["eval_steps"])
    assert run["stdout"][-1] == (
        f"interrupted at step {step}: resume from {result['work']}/checkpoints/{checkpoint}"
    )
    assert run["model_files"] == []
    assert max(line["step"] for line in _metrics_lines(run["stdout"])) == step
    # said once, from the step's end: the handler itself writes nothing (a print inside a
    # print to the same buffered stream raises "reentrant call")
    said = [line for line in run["stdout"] if line.startswith("received signal")]
    assert said == [f"received signal 15: checkpointing at step {step}"]


def test_the_restarted_job_resumes_from_the_checkpoint(result: dict[str, Any]) -> None:
    [checkpoint] = result["interrupted"]["checkpoints"]
    step = int(checkpoint.removeprefix("checkpoint-"))
    run = result["resumed"]
    assert run["returncode"] == 0, run["stderr_tail"]
    assert f"resuming from {result['work']}/checkpoints/{checkpoint}" in run["stdout"]
    logged = [line["step"] for line in _metrics_lines(run["stdout"])]
    assert min(logged) == step + 1  # no step done twice
    assert result["metrics_json"]["resumed_from"].endswith(checkpoint)


def test_it_learns_stops_early_and_keeps_the_best_model(result: dict[str, Any]) -> None:
    summary = result["metrics_json"]
    max_steps = int(HYPERPARAMETERS["max_steps"])
    assert summary["max_steps"] == max_steps
    assert summary["stopped_early"] is True
    assert summary["global_step"] < max_steps
    evaluations = [m for m in _metrics_lines(result["resumed"]["stdout"]) if "eval_f1" in m]
    best = max(evaluations[:-1], key=lambda m: m["eval_f1"])  # the last is the final one
    assert summary["best_checkpoint"].endswith(f"checkpoint-{int(best['step'])}")
    assert summary["metrics"]["eval_f1"] == pytest.approx(best["eval_f1"], abs=1e-6)
    # Patience 3: three evaluations after the best one without improving.
    patience = int(HYPERPARAMETERS["early_stopping_patience"])
    assert summary["global_step"] == best["step"] + patience * int(HYPERPARAMETERS["eval_steps"])
    assert summary["metrics"]["eval_accuracy"] >= 0.9
    assert summary["labels"] == ["negative", "positive"]


def test_the_metric_definitions_capture_the_final_metrics(result: dict[str, Any]) -> None:
    """Each definition, applied line by line to the job's log as SageMaker does: the last
    value it captures (the job's FinalMetricDataList) is the model's final evaluation."""
    stdout = result["resumed"]["stdout"]
    final = result["metrics_json"]["metrics"]
    captured: dict[str, list[float]] = {}
    for name, regex in METRIC_DEFINITIONS.items():
        for line in stdout:
            if match := re.search(regex, line):
                captured.setdefault(name, []).append(float(match.group(1)))
    assert captured["validation:f1"][-1] == pytest.approx(final["eval_f1"], rel=1e-5)
    assert captured["validation:accuracy"][-1] == pytest.approx(final["eval_accuracy"], rel=1e-5)
    assert captured["validation:loss"][-1] == pytest.approx(final["eval_loss"], rel=1e-5)
    training_losses = [m["loss"] for m in _metrics_lines(stdout) if "loss" in m]
    assert captured["train:loss"] == pytest.approx(training_losses, rel=1e-5)
    assert stdout[-1].startswith("[final] ")


def test_the_model_directory_is_what_the_inference_container_loads(
    result: dict[str, Any],
) -> None:
    files = set(result["resumed"]["model_files"])
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    } <= files
    config = json.loads((Path(result["work"]) / "model" / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "positive"}


def test_the_served_model_answers_requests(result: dict[str, Any]) -> None:
    served = result["serving"]
    assert served["task"] == "text-classification"
    single, batch = served["responses"]
    [[top]] = [single] if isinstance(single[0], dict) else [single[0]]
    assert top["label"] == "positive" and top["score"] > 0.5
    awful, lovely = batch
    assert {p["label"] for p in awful} == {p["label"] for p in lovely} == {"negative", "positive"}
    assert max(awful, key=lambda p: p["score"])["label"] == "negative"
    assert max(lovely, key=lambda p: p["score"])["label"] == "positive"


def test_every_hyperparameter_the_pipeline_passes_is_an_argument_of_the_script() -> None:
    """The script refuses unknown arguments, so a hyperparameter it lacks fails the job."""
    tree = ast.parse((BUNDLED_SOURCE_DIR / BUNDLED_ENTRY_POINT).read_text())
    options = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "add_argument"
        and isinstance(node.args[0], ast.Constant)
    }
    passed = {key for key in PIPELINE_HYPERPARAMETERS if not key.startswith("sagemaker_")}
    assert {f"--{key}" for key in passed | set(HYPERPARAMETERS)} <= options
