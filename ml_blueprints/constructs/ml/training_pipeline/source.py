"""The code the pipeline's jobs run: the training script's source directory, shipped as a
``sourcedir.tar.gz`` file asset, and the data step's script, shipped as a file asset.

Plain file archives (no Docker image, nothing built at deploy time). The archive is made at
synth time and is byte-for-byte the same for the same files (sorted entries, no timestamps,
owners or modes from the machine), so its asset hash changes only when the code does.

A training job with network isolation cannot download its code from S3 itself, so, as the
SageMaker Python SDK does, the archive is a ``code`` input channel and
``sagemaker_submit_directory`` names its copy in the container,
``/opt/ml/input/data/code/<object name>``, which the SageMaker training toolkit extracts to
``/opt/ml/code`` before it runs ``sagemaker_program``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_s3_assets as s3_assets

from ml_blueprints.validation import PropErrors

_RUNTIME = Path(__file__).resolve().parents[3] / "runtime"
#: The bundled training script's directory and entry point.
BUNDLED_SOURCE_DIR = _RUNTIME / "fine_tuning"
BUNDLED_ENTRY_POINT = "train.py"
#: The data step's script (self-contained, ``pyarrow`` only).
DATA_SCRIPT = _RUNTIME / "training_data.py"

#: Where SageMaker puts a training job's input channel ``code``.
CODE_CHANNEL_DIR = "/opt/ml/input/data/code"
#: Where the data step's Processing job gets its script.
PROCESSING_CODE_DIR = "/opt/ml/processing/input/code"
#: The largest source archive accepted: code, not data or model weights.
MAX_ARCHIVE_BYTES = 50 * 1024 * 1024
_SKIPPED_DIRECTORIES = {"__pycache__", ".git", ".venv", "node_modules"}


def source_files(source_dir: Path) -> list[Path]:
    """The files of ``source_dir`` that go into the archive, sorted: everything but hidden
    files and directories, byte-code and caches."""
    return sorted(
        path
        for path in source_dir.rglob("*")
        if path.is_file()
        and path.suffix not in (".pyc", ".pyo")
        and not any(
            part.startswith(".") or part in _SKIPPED_DIRECTORIES
            for part in path.relative_to(source_dir).parts
        )
    )


def archive_bytes(source_dir: Path) -> bytes:
    """``source_dir`` as a reproducible ``.tar.gz`` (see the module docstring)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in source_files(source_dir):
            info = tarfile.TarInfo(path.relative_to(source_dir).as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def source_archive(source_dir: Path) -> Path:
    """The archive of ``source_dir`` as a file, written once per content to the temporary
    directory (CDK copies it into the cloud assembly)."""
    data = archive_bytes(source_dir)
    digest = hashlib.sha256(data).hexdigest()[:32]
    path = Path(tempfile.gettempdir()) / "ml-blueprints-sourcedir" / digest / "sourcedir.tar.gz"
    if not path.is_file() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return path


def validate_source(errors: PropErrors, source_dir: object, entry_point: object) -> Path | None:
    """Check ``source_dir`` and ``entry_point``; the directory as a ``Path`` if usable.

    The entry point is a ``.py`` or ``.sh`` file inside the directory. A
    ``requirements.txt`` is refused: the job runs with network isolation, so the toolkit's
    ``pip install`` of it would fail; vendor the packages into the directory or use an image
    that has them.
    """
    directory = Path(source_dir) if isinstance(source_dir, str | Path) else None
    if directory is None or not directory.is_dir():
        errors.add("source_dir", source_dir, "an existing directory holding the training code")
        return None
    usable = True
    entry = directory / entry_point if isinstance(entry_point, str) else None
    if (
        entry is None
        or not entry.is_file()
        or entry.suffix not in (".py", ".sh")
        or entry not in source_files(directory)
    ):
        errors.add(
            "entry_point",
            entry_point,
            f"a .py or .sh file in source_dir ({directory}), as a relative path",
        )
        usable = False
    if (directory / "requirements.txt").exists():
        errors.add(
            "source_dir",
            str(directory),
            "no requirements.txt: the job runs with network isolation and cannot pip install; "
            "vendor the packages into source_dir or use an image that has them",
        )
        usable = False
    if usable:
        size = len(archive_bytes(directory))
        errors.require(
            size <= MAX_ARCHIVE_BYTES,
            "source_dir",
            f"{directory} ({size} bytes compressed)",
            f"code of at most {MAX_ARCHIVE_BYTES // 2**20} MiB compressed: stage data and "
            "model weights in S3 and read them from a channel",
        )
    return directory if usable else None


def container_path(asset: s3_assets.Asset, directory: str) -> str:
    """Where ``asset`` lands when SageMaker copies its object into ``directory``: the object
    name (the last part of its key), which the default stack synthesizer knows at synth."""
    key = asset.s3_object_key
    if cdk.Token.is_unresolved(key):
        raise ValueError(
            "TrainingPipeline: the stack synthesizer names file assets only at deploy time; "
            "use the default synthesizer (DefaultStackSynthesizer or "
            "CliCredentialsStackSynthesizer)"
        )
    return f"{directory}/{key.rsplit('/', 1)[-1]}"


def encoded(value: str) -> str:
    """A hyperparameter value as the SageMaker Python SDK sends the toolkit's own: JSON."""
    return json.dumps(value)
