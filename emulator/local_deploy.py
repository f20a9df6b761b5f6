"""``make local-deploy``: every default layer deployed to a local emulator, kept running until
Ctrl-C.

    make local-deploy                                  # sandbox mode, env_name dev
    make local-deploy LOCAL_DEPLOY_ARGS="-c env_name=demo -c log_retention_days=30"

Starts MiniStack on 127.0.0.1 (port 4566 when free, else any free port; ``--port`` to choose),
bootstraps it, synthesizes the app in sandbox mode to ``cdk.local.out/``, deploys every stack
with the pinned CDK CLI, prints their outputs and how to point the AWS CLI, boto3 and
``ml-blueprints smoke`` at it, then waits. Ctrl-C (or ``--hours``, default 8, running out)
stops the emulator and everything in it: nothing is kept.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import sys
import time

from emulator.harness import (
    REGION,
    ROOT,
    Emulator,
    EmulatorError,
    stack_names,
    synthesize,
    wait_for,
)

OUTDIR = ROOT / "cdk.local.out"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _context(pairs: list[str]) -> dict[str, str]:
    context = {"sandbox": "true"}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: -c {pair!r}: expected key=value")
        context[key] = value
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make local-deploy", description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--port", type=int, default=None, help="default: 4566 when free")
    parser.add_argument("--hours", type=float, default=8, help="time limit (default: 8)")
    args = parser.parse_args(argv)
    context = _context(args.context)
    port = args.port or (4566 if _port_is_free(4566) else None)

    shutil.rmtree(OUTDIR, ignore_errors=True)
    synth = synthesize({"app": context}, OUTDIR)
    emulator = Emulator("local", port=port, time_limit=args.hours * 3600)
    stop = False

    def interrupted(*_: object) -> None:
        nonlocal stop
        stop = True

    try:
        print(f"starting MiniStack on 127.0.0.1:{port or '(a free port)'} ...", flush=True)
        emulator.start()
        print(f"MiniStack on {emulator.url} (log: {emulator.log}); bootstrapping ...", flush=True)
        emulator.bootstrap()
        app = wait_for(OUTDIR / "app", synth)
        print(f"synthesized {app}; deploying every stack ...", flush=True)
        deployed = emulator.deploy(app)
        print(f"deployed in {deployed.seconds:.0f} s\n")
        for stack_id, name in stack_names(app).items():
            print(f"{stack_id} ({name})")
            for key, value in sorted(emulator.outputs(name).items()):
                if not key.startswith("PublishOutput"):  # CDK's cross-stack plumbing
                    print(f"  {key:<24} {value}")
        env = emulator.environment()
        print(
            "\nUse it from another shell:\n"
            + "".join(f"  export {k}={v}\n" for k, v in env.items())
            + f"  aws s3 ls  # or boto3, or the CDK CLI with --app {app}\n"
            + "  .venv/bin/ml-blueprints smoke --emulator --endpoint-url "
            + f"{emulator.url} --region {REGION} --timeout 30 --poll 1\n"
            + f"\nRunning until Ctrl-C (at most {args.hours:g} h).",
            flush=True,
        )
        signal.signal(signal.SIGINT, interrupted)
        signal.signal(signal.SIGTERM, interrupted)
        while not stop and emulator.process is not None and emulator.process.poll() is None:
            time.sleep(0.5)
        return 0
    except EmulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        emulator.stop()
        emulator.remove_workdir()
        if synth.poll() is None:
            synth.kill()
        print("MiniStack stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
