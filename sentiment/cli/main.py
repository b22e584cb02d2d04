"""The `sentiment` command: one entry point, one subcommand per job.

Each subcommand parses its arguments, builds settings, calls one function of the package
that does the work, and prints the result. Heavy imports happen inside the handlers so
`sentiment --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from config.settings import PipelineSettings

Handler = Callable[[argparse.Namespace, PipelineSettings], int]


def _train(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from training.run import train

    result = train(
        settings,
        args.preset,
        fresh=args.fresh,
        train_examples=args.train_examples,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        pooling=args.pooling,
        layer_lr_decay=args.layer_lr_decay,
        ema_decay=args.ema_decay,
        seed=args.seed,
    )
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "registered_model": result.model_name,
                "model_version": result.model_version,
                **result.metrics,
            },
            indent=2,
        )
    )
    return 0


def _export(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from export.run import run_export

    published = run_export(settings, model_version=args.model_version)
    print(
        json.dumps(
            {
                "repository": str(published.repository),
                "version": published.version,
                "models": published.models,
                "parity": published.parity,
            },
            indent=2,
            default=str,
        )
    )
    if args.load:
        from serving.tritonserver import load_models

        loaded = load_models(settings, published.models)
        if loaded:
            print(f"loaded into the running server: {', '.join(loaded)}")
    return 0


def _triton(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from serving.tritonserver import serve

    return serve(settings)


def _up(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from sentiment.cli.up import up

    return up(settings)


def _models(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from serving.inventory import inventory, render

    report = inventory(settings)
    print(json.dumps(report.as_dict(), indent=2, default=str) if args.json else render(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment", description="Sentiment inference service on NVIDIA Triton."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="fine-tune the classifier, track it in MLflow")
    train.add_argument("--preset", choices=("quick", "full", "tiny"), default="quick")
    train.add_argument("--train-examples", type=int, help="override the training subset size")
    train.add_argument("--epochs", type=int, help="override the number of epochs")
    train.add_argument("--learning-rate", type=float, help="override the peak learning rate")
    train.add_argument(
        "--pooling", choices=("cls", "mean"), help="override the classifier's pooling"
    )
    train.add_argument(
        "--layer-lr-decay", type=float, help="override the per-layer learning-rate factor"
    )
    train.add_argument(
        "--ema-decay", type=float, help="ship a moving average of the weights with this decay"
    )
    train.add_argument("--seed", type=int, help="override the random seed")
    train.add_argument(
        "--fresh", action="store_true", help="ignore a saved checkpoint instead of resuming"
    )
    train.set_defaults(handler=_train)

    export = commands.add_parser(
        "export", help="export a registered model version, parity-check it, publish to Triton"
    )
    export.add_argument("--model-version", help="registered model version (default: newest)")
    export.add_argument(
        "--no-load",
        dest="load",
        action="store_false",
        help="do not ask a running Triton to load the new version",
    )
    export.set_defaults(handler=_export)

    triton = commands.add_parser("triton", help="run Triton on the model repository")
    triton.set_defaults(handler=_triton)

    up = commands.add_parser("up", help="run Triton and the gateway, with a local API key")
    up.set_defaults(handler=_up)

    models = commands.add_parser("models", help="list the repository and the running server")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(handler=_models)

    from sentiment.cli import drift, gateway, operator

    gateway.add_commands(commands)  # gateway, predict
    operator.add_commands(commands)  # keys, audit
    drift.add_commands(commands)  # drift
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from packages, never a hub
    args = build_parser().parse_args(argv)
    try:
        settings = PipelineSettings()
    except ValueError as error:  # pydantic's ValidationError names the bad setting
        print(f"sentiment: invalid setting: {error}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
