"""Lake to model on CPU, end to end, in a background process: the slow half of
``test_fine_tuning.py``.

``python -m tests.runtime.fine_tuning_run WORKDIR`` (the root conftest starts it when the
tests are collected) does what the pipeline does, with the real code and SageMaker's
contracts, and writes what it saw to ``WORKDIR/result.json`` for the tests to assert on:

1. writes curated events as the Spark ETL job does (Parquet, ``event_date=`` directories,
   INT96 timestamps), a few of them unusable;
2. runs the data step (``runtime/training_data.py``) on them as the Processing job does
   (``/opt/ml/processing/input/events`` -> ``/opt/ml/processing/output``, here as arguments);
3. builds a tiny "pre-trained" model with no download: a two-layer BERT from a configuration
   and a WordPiece tokenizer trained on the events' own text, saved with ``save_pretrained``
   as the ``pretrained`` channel;
4. extracts the job's ``sourcedir.tar.gz`` (written by the test process with the
   pipeline's own archiver) as the SageMaker training toolkit does, and runs its
   ``train.py`` as ``__main__`` (in a child forked from this process, which has already
   imported PyTorch: see :func:`start_script`) through the ``SM_*`` environment with the
   hyperparameters turned into arguments as the toolkit turns them (JSON-decoded values,
   ``sagemaker_*`` keys left out, sorted ``--name value``); sends it SIGTERM (a stop, a
   spot interruption) once it has logged a few steps, then runs the same command again,
   which resumes from the checkpoint;
5. loads the saved model as the Hugging Face inference toolkit does (``HF_TASK`` or the
   architecture in ``config.json`` -> ``transformers.pipeline(task, model=model_dir,
   tokenizer=model_dir)``) and answers JSON requests through the toolkit's steps (decode the
   body, ``inputs``/``parameters``, encode the prediction).

Nothing is asserted here: a step that fails is recorded and the rest is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import runpy
import signal
import subprocess
import sys
import tarfile
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
DATA_SCRIPT = ROOT / "ml_blueprints" / "runtime" / "training_data.py"
#: The job's source archive, written by the test process before this one starts.
SOURCE_ARCHIVE = "sourcedir.tar.gz"

#: The training run's hyperparameters as the job's HyperParameters hold them (strings; the
#: pipeline's own are added by the test process, in ``hyperparameters.json``). A higher
#: learning rate than the default: the tiny model starts from random weights.
HYPERPARAMETERS: dict[str, str] = {
    "max_steps": "120",
    "eval_steps": "10",
    "logging_steps": "1",
    "learning_rate": "0.01",
    "warmup_ratio": "0",
    "train_batch_size": "16",
    "eval_batch_size": "64",
    "max_length": "16",
    "early_stopping_patience": "3",
    "save_total_limit": "2",
}
#: SIGTERM is sent once this step has been logged.
INTERRUPT_AT_STEP = 3

POSITIVE = ["great", "excellent", "lovely", "superb", "wonderful", "fantastic", "delightful"]
NEGATIVE = ["awful", "terrible", "dreadful", "horrible", "poor", "broken", "disappointing"]
NOUNS = ["service", "product", "delivery", "support", "screen", "battery", "price", "app"]
FILLER = ["really", "quite", "very", "so", "truly", "rather", "simply", "honestly"]


def sentence(rng: random.Random, positive: bool) -> str:
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    return f"the {rng.choice(NOUNS)} was {rng.choice(FILLER)} {word} {rng.choice(FILLER)}"


def write_events(directory: Path) -> dict[str, Any]:
    """Curated events for 8 days, 40 a day, as the Spark job writes them; 3 unusable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(7)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    total = 0
    for day in range(8):
        rows: dict[str, list[Any]] = {
            key: [] for key in ("event_id", "event_type", "event_time", "ingested_at")
        }
        rows.update(text=[], label=[], user_id=[])
        for index in range(40):
            positive = rng.random() < 0.5
            when = start + timedelta(days=day, minutes=index * 30)
            rows["event_id"].append(f"e-{day}-{index}")
            rows["event_type"].append("review")
            rows["event_time"].append(when)
            rows["ingested_at"].append(when + timedelta(seconds=5))
            rows["text"].append(sentence(rng, positive))
            rows["label"].append("positive" if positive else "negative")
            rows["user_id"].append(f"u-{rng.randrange(30)}")
        if day == 0:  # unusable rows: no text, blank text, no label
            rows["text"][0], rows["text"][1], rows["label"][2] = None, "  ", None
        table = pa.table(rows)
        partition = directory / f"event_date={(start + timedelta(days=day)).date()}"
        partition.mkdir(parents=True)
        # Spark 3.5 writes timestamps as INT96 unless told otherwise.
        pq.write_table(
            table, partition / "part-00000.snappy.parquet", use_deprecated_int96_timestamps=True
        )
        (partition / "_SUCCESS").write_text("")
        total += table.num_rows
    return {"events": total}


def build_pretrained(directory: Path, corpus: list[str]) -> dict[str, Any]:
    """A two-layer BERT from a configuration and a WordPiece tokenizer trained on ``corpus``,
    saved as a pre-trained model is: the stand-in for the Hub model, with no download."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    torch.manual_seed(0)  # the same "pre-trained" weights every run

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.train_from_iterator(
        corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special)
    )
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(token, backend.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    config = BertConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.1,  # wider than BERT's 0.02: learns in tens of steps from scratch
    )
    model = BertForMaskedLM(config)  # a pre-trained checkpoint has no classification head
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return {
        "files": sorted(path.name for path in directory.iterdir()),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def toolkit_arguments(hyperparameters: dict[str, str]) -> list[str]:
    """The arguments the SageMaker training toolkit gives the entry point: each value
    JSON-decoded when it parses (``"2e-05"`` -> ``2e-05``), ``sagemaker_*`` keys left out,
    keys sorted, ``--key str(value)``."""
    decoded: dict[str, Any] = {}
    for key, value in hyperparameters.items():
        try:
            decoded[key] = json.loads(value)
        except ValueError:
            decoded[key] = value
    arguments: list[str] = []
    for key in sorted(k for k in decoded if not k.startswith("sagemaker_")):
        arguments += [f"--{key}" if len(key) > 1 else f"-{key}", str(decoded[key])]
    return arguments


def extract_source(work: Path, hyperparameters: dict[str, str]) -> dict[str, Any]:
    """``sagemaker_submit_directory`` extracted to the code directory, as the toolkit does."""
    code = work / "code"
    with tarfile.open(work / SOURCE_ARCHIVE, "r:gz") as archive:
        archive.extractall(code, filter="data")
    program = json.loads(hyperparameters["sagemaker_program"])
    return {
        "files": sorted(p.relative_to(code).as_posix() for p in code.rglob("*") if p.is_file()),
        "program": program,
    }


def start_script(
    program: Path, arguments: list[str], env: dict[str, str], stderr_file: Path
) -> tuple[int, IO[str]]:
    """Run ``program`` as ``python program arguments`` would, in a child process forked from
    this one: ``__main__`` with that ``sys.argv``, its directory first on ``sys.path``,
    ``env`` as its environment, the program's directory as the working directory, standard
    error to ``stderr_file``. Returns the child's pid and its standard output.

    Forked rather than started afresh: this process has already imported PyTorch and
    Transformers (about 3 s of CPU a start, twice a run, on a two-core machine shared with
    the rest of the suite). The script still executes every one of its own imports, in a
    namespace of its own; only the modules it imports are found loaded."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            os.dup2(os.open(stderr_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            os.environ.clear()
            os.environ.update(env)
            os.chdir(program.parent)
            sys.argv = [str(program), *arguments]
            sys.path[0] = str(program.parent)
            runpy.run_path(str(program), run_name="__main__")
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    return pid, open(read_end, encoding="utf-8", errors="replace")


def wait_for(pid: int, deadline: float) -> int:
    """The child's exit status as ``subprocess`` gives it (negative: killed by that signal),
    killing it once ``deadline`` (a ``time.monotonic()`` value) has passed."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def run_training(
    work: Path,
    name: str,
    hyperparameters: dict[str, str],
    interrupt_at: int | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """The training script as SageMaker starts it: ``SM_*`` environment, the toolkit's
    arguments, the code directory as the working directory."""
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(work / "processing" / "train"),
        "SM_CHANNEL_VALIDATION": str(work / "processing" / "validation"),
        "SM_CHANNEL_PRETRAINED": str(work / "pretrained"),
        "SM_MODEL_DIR": str(work / "model"),
        "SM_OUTPUT_DATA_DIR": str(work / "output" / "data"),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    program = work / "code" / json.loads(hyperparameters["sagemaker_program"])
    started = time.monotonic()
    stderr_file = work / f"{name}.stderr"
    pid, stdout = start_script(program, toolkit_arguments(hyperparameters), env, stderr_file)
    lines: list[str] = []
    signalled_at = None
    for line in stdout:
        lines.append(line.rstrip("\n"))
        if (
            interrupt_at is not None
            and signalled_at is None
            and line.startswith(f"[metrics] step={interrupt_at} ")
        ):
            os.kill(pid, signal.SIGTERM)
            signalled_at = interrupt_at
    stdout.close()
    returncode = wait_for(pid, deadline=started + timeout)
    stderr = stderr_file.read_text(errors="replace")
    return {
        "name": name,
        "returncode": returncode,
        "stdout": lines,
        "stderr_tail": stderr.splitlines()[-40:],
        "signalled_at_step": signalled_at,
        "seconds": round(time.monotonic() - started, 2),
        "checkpoints": sorted(
            path.name for path in (work / "checkpoints").glob("checkpoint-*") if path.is_dir()
        ),
        "model_files": sorted(p.name for p in (work / "model").iterdir())
        if (work / "model").is_dir()
        else [],
    }


def serve(model_dir: Path, requests: list[bytes]) -> dict[str, Any]:
    """Load and answer as the Hugging Face inference toolkit (2.6) does with no custom code:
    ``HuggingFaceHandlerService.load`` (task from ``HF_TASK``, else from the architecture in
    ``config.json``) -> ``get_pipeline`` -> ``pipeline(task, model=model_dir,
    tokenizer=model_dir, device=-1)``; per request ``decode_json`` -> ``predict`` (``inputs``
    and optional ``parameters``) -> ``encode_json``."""
    from transformers import pipeline

    architecture = json.loads((model_dir / "config.json").read_text())["architectures"][0]
    inferred = "text-classification" if architecture.endswith("ForSequenceClassification") else None
    task = os.environ.get("HF_TASK", inferred)
    hf_pipeline = pipeline(task=task, model=str(model_dir), tokenizer=str(model_dir), device=-1)
    responses = []
    for body in requests:
        data = json.loads(body.decode("utf-8"))
        inputs = data.pop("inputs", data)
        parameters = data.pop("parameters", None)
        prediction = hf_pipeline(inputs, **parameters) if parameters else hf_pipeline(inputs)
        responses.append(json.loads(json.dumps(prediction)))
    return {"architecture": architecture, "task": task, "responses": responses}


def main(work: Path) -> None:
    import pyarrow.parquet as pq

    os.nice(5)  # background work: the test session's own process comes first

    result: dict[str, Any] = {"steps": []}
    result_file = work / "result.json"

    def step(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            value = fn(*args, **kwargs)
        except Exception:
            result[name] = {"error": traceback.format_exc()}
            raise
        finally:
            result["steps"].append([name, round(time.monotonic() - started, 2)])
        result[name] = value
        return value

    try:
        step("events", write_events, work / "events")
        prep = step(
            "prep",
            subprocess.run,
            [
                sys.executable,
                str(DATA_SCRIPT),
                "--input-dir",
                str(work / "events"),
                "--output-dir",
                str(work / "processing"),
                "--split",
                "time",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        result["prep"] = {
            "returncode": prep.returncode,
            "stdout": prep.stdout,
            "stderr": prep.stderr,
            "summary": json.loads((work / "processing" / "summary.json").read_text())
            if prep.returncode == 0
            else None,
        }
        corpus = pq.read_table(work / "processing" / "train").column("text").to_pylist()
        step("pretrained", build_pretrained, work / "pretrained", corpus)
        hyperparameters = {
            **json.loads((work / "hyperparameters.json").read_text()),
            **HYPERPARAMETERS,
            "checkpoint_dir": str(work / "checkpoints"),
        }
        result["hyperparameters"] = hyperparameters
        step("source", extract_source, work, hyperparameters)
        step(
            "interrupted",
            run_training,
            work,
            "interrupted",
            hyperparameters,
            interrupt_at=INTERRUPT_AT_STEP,
        )
        step("resumed", run_training, work, "resumed", hyperparameters)
        output = work / "output" / "data" / "metrics.json"
        result["metrics_json"] = json.loads(output.read_text()) if output.is_file() else None
        requests = [
            json.dumps({"inputs": "the battery was truly superb"}).encode(),
            json.dumps(
                {
                    "inputs": ["the price was so awful", "the app was very lovely"],
                    "parameters": {"top_k": None},
                }
            ).encode(),
        ]
        step("serving", serve, work / "model", requests)
    except Exception:
        result.setdefault("error", traceback.format_exc())
    finally:
        result_file.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
