"""Run CDK apps one after the other in this process, each as the CDK CLI runs an app.

The plan is a JSON list on stdin of ``{"name", "script", "outdir", "context"}``. Each script
runs as ``__main__``, as `python <script>` would run it: its own directory first on
``sys.path``, ``outdir`` as the working directory. The CDK CLI gives an app its output
directory and context in the environment (``CDK_OUTDIR``, ``CDK_CONTEXT_JSON``), which the
jsii runtime's Node process reads once, when it starts. So here every ``cdk.App`` the script
creates gets them as props instead: ``outdir`` (unless the app sets its own) and
``post_cli_context``, which CDK applies where it applies the environment's context, over the
app's own ``context``. A null context is none at all.

After each app a line on stdout starts with :data:`MARK` and holds the JSON of its result:
``{"name", "status", "seconds", "error", "jsii_node"}``, ``status`` being the exit status a
process of its own would have had (0, the code of a ``SystemExit``, or 1 with the traceback
in ``error``), ``jsii_node`` the Node jsii was given (``JSII_NODE``, or null for the first
``node`` on PATH). What the app itself prints comes before that line.

Run it with ``python -P``, so its own directory (tests/, whose tests/constructs would hide
the constructs library) is not on ``sys.path``. It imports nothing from the repository.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
import traceback
from pathlib import Path
from typing import Any

MARK = "\x1emlbp-app-run "
#: The app being run: what the CLI would give it.
_current: dict[str, Any] = {}


def give_apps_what_the_cli_gives() -> None:
    """Make every ``cdk.App`` get the current app's output directory and context."""
    for variable in ("CDK_OUTDIR", "CDK_CONTEXT_JSON", "CDK_CONTEXT_FILE"):
        if variable in os.environ:
            raise SystemExit(f"{variable} is set: the runner gives each app its own")
    import aws_cdk as cdk

    original = cdk.App.__init__

    def init(self: cdk.App, **props: Any) -> None:
        props["outdir"] = props.get("outdir") or _current["outdir"]
        props["post_cli_context"] = {**_current["context"], **(props.get("post_cli_context") or {})}
        original(self, **props)

    cdk.App.__init__ = init  # type: ignore[method-assign]


def run(app: dict[str, Any]) -> dict[str, Any]:
    script = Path(app["script"])
    _current.update(outdir=app["outdir"], context=app.get("context") or {})
    os.chdir(app["outdir"])
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    sys.path.insert(0, str(script.parent))
    sys.argv = [str(script)]
    status, error = 0, ""
    started = time.perf_counter()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        error = "" if code is None or isinstance(code, int) else str(code)
    except BaseException:  # every failure is the app's result, the next app goes on
        status, error = 1, traceback.format_exc()
    finally:
        sys.path[:], sys.argv = saved_path, saved_argv
    seconds = time.perf_counter() - started
    return {
        "name": app["name"],
        "status": status,
        "seconds": seconds,
        "error": error,
        "jsii_node": os.environ.get("JSII_NODE"),
    }


def main() -> int:
    plan = json.load(sys.stdin)
    give_apps_what_the_cli_gives()
    for app in plan:
        result = run(app)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout.write(MARK + json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
