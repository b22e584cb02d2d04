"""The model pipeline's commands: `train` and `export`.

`add_commands(subparsers)` adds them to the `sentiment` parser. Each handler calls one
function of the component that does the work and prints its result; heavy imports happen
inside the handlers so that `sentiment --help` stays fast. Expected failures are raised
and printed as one line by the error boundary in `sentiment.cli.main`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from config.settings import PipelineSettings


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

    published = run_export(settings, model_version=args.model_version, serve=args.serve)
    print(
        json.dumps(
            {
                "repository": str(published.repository),
                "version": published.version,
                "models": published.models,
                "loaded_versions": published.loaded,
                "parity": published.parity,
            },
            indent=2,
            default=str,
        )
    )
    if not published.live:
        served = ", ".join(str(v) for v in published.loaded)
        print(
            f"version {published.version} is published; Triton keeps serving version {served} "
            f"until `sentiment rollout start --candidate-version {published.version}` moves "
            "traffic to it"
        )
    elif args.load:
        from serving.tritonserver import load_models

        loaded = load_models(settings, published.models)
        if loaded:
            print(f"loaded into the running server: {', '.join(loaded)}")
    return 0


def add_commands(commands: Any) -> None:
    """Add `train` and `export` to an argparse subparsers object."""
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
    export.add_argument(
        "--serve",
        action="store_true",
        help="serve the new version at once instead of through a rollout (a repository "
        "whose served version this release cannot serve)",
    )
    export.set_defaults(handler=_export)
