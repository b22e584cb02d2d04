"""The `sentiment` command: one entry point, one subcommand per job, one error boundary.

The subcommands live in this package, one module per component (`pipeline`, `up`,
`serving`, `gateway`, `operator`, `drift`, `retention`, `rollout`); each handler takes the parsed
arguments and the pipeline settings and returns an exit code. `main()` is the only place
that turns an expected failure (bad configuration, a failed parity gate, a Triton that
cannot start, an unreachable database, a missing drift reference, perf_analyzer missing)
into one line on stderr and a non-zero exit; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from config.settings import PipelineSettings
from sentiment.cli import drift, gateway, operator, pipeline, retention, rollout, serving, up
from sentiment.cli.environment import check_environment
from sentiment.cli.errors import describe

Handler = Callable[[argparse.Namespace, PipelineSettings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment", description="Sentiment inference service on NVIDIA Triton."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pipeline.add_commands(commands)  # train, export
    serving.add_commands(commands)  # triton, models, perf
    up.add_commands(commands)  # up
    gateway.add_commands(commands)  # gateway, predict
    operator.add_commands(commands)  # keys, audit
    drift.add_commands(commands)  # drift
    retention.add_commands(commands)  # retention apply
    rollout.add_commands(commands)  # rollout start|status|promote|rollback
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from packages, never a hub
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != serving.PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        check_environment()  # a mistyped SENTIMENT_* variable stops every command
        handler: Handler = args.handler
        return handler(args, PipelineSettings())
    except Exception as error:
        described = describe(error)
        if described is None:
            raise  # a bug: keep the traceback
        code, message = described
        print(f"sentiment {args.command}: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
