"""The serving commands: `triton`, `models` and `perf`.

`add_commands(subparsers)` adds them to the `sentiment` parser; the work is in the
`serving` package (the launcher, the repository inventory, the perf_analyzer wrapper).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from config.settings import PipelineSettings

PASS_THROUGH = "perf"
"""The command whose unknown options go to another program (perf_analyzer)."""


def _triton(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from serving.tritonserver import serve

    return serve(settings)


def _models(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from serving.inventory import inventory, render

    report = inventory(settings)
    print(json.dumps(report.as_dict(), indent=2, default=str) if args.json else render(report))
    return 0


def _perf(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from serving.perf import run_perf

    triton = settings.triton
    url = args.url or (triton.grpc_address if args.protocol == "grpc" else triton.http_address)
    return run_perf(settings, url, args.model, args.protocol, args.sentences, args.extra)


def add_commands(commands: Any) -> None:
    """Add `triton`, `models` and `perf` to an argparse subparsers object."""
    triton = commands.add_parser("triton", help="run Triton on the model repository")
    triton.set_defaults(handler=_triton)

    models = commands.add_parser("models", help="list the repository and the running server")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(handler=_models)

    perf = commands.add_parser(
        "perf",
        help="perf_analyzer on the served sentiment model with SST-2 dev sentences",
        description="perf_analyzer on a Triton text-in model with SST-2 dev sentences; "
        "unknown options go to perf_analyzer (default: --concurrency-range 1:4).",
    )
    perf.add_argument("--model", default="sentiment")
    perf.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    perf.add_argument("--url", help="server address (default: the SENTIMENT_TRITON_* address)")
    perf.add_argument("--sentences", type=int, help="use only the first N dev sentences")
    perf.set_defaults(handler=_perf)
