"""Synthesize the project's app once per context in one process (one jsii start-up).

    python -m emulator.synth OUTDIR '{"sandbox": {"sandbox": "true"}, ...}'

Each assembly goes to ``OUTDIR/<name>`` exactly as ``cdk synth -c key=value ...`` writes it
(same app, same feature flags from cdk.json, same rule packs); ``OUTDIR/<name>/.done`` marks
it complete. The first synth pays for starting jsii (about 5 s), each further one about 1.5 s.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ml_blueprints.toolchain import use_supported_node

use_supported_node()  # before aws_cdk starts jsii

from ml_blueprints.app import build_app  # noqa: E402
from ml_blueprints.config import CONTEXT_KEYS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    outdir, spec = Path(argv[0]), json.loads(argv[1])
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    flags = {key: value for key, value in context.items() if key not in CONTEXT_KEYS}
    for name, values in spec.items():
        started = time.monotonic()
        app, _ = build_app(context={**flags, **values}, outdir=str(outdir / name))
        app.synth()
        (outdir / name / ".done").write_text(f"{time.monotonic() - started:.1f}\n")
        print(f"synth {name}: {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
