"""`sentiment gateway` (serve in the foreground) and `sentiment predict TEXT...`.

`add_commands(subparsers)` adds both to the `sentiment` parser; each handler takes the
parsed arguments (and the pipeline settings, for the model repository) and returns an
exit code. A missing or invalid setting ends the command with a message naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

API_KEY_ENV = "SENTIMENT_API_KEY"


def add_commands(subparsers: Any) -> None:
    """Add `gateway` and `predict` to an argparse subparsers object (handlers in `handler`)."""
    gateway = subparsers.add_parser("gateway", help="run the gRPC gateway in the foreground")
    gateway.set_defaults(handler=run_gateway)

    predict = subparsers.add_parser("predict", help="classify texts through the gateway")
    predict.add_argument("texts", nargs="+", metavar="TEXT")
    predict.add_argument("--target", help="gateway address (default 127.0.0.1:<gateway port>)")
    predict.add_argument("--model", default="", help="model name (default: the gateway's)")
    predict.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    predict.add_argument(
        "--truncation",
        choices=("none", "head", "head_tail"),
        default="none",
        help="a text over the model's token limit: refuse it (none), keep its start (head), "
        "or its start and end (head_tail)",
    )
    predict.add_argument("--ca-file", type=Path, help="CA (PEM) to verify a TLS gateway")
    predict.set_defaults(handler=run_predict)


def run_gateway(args: argparse.Namespace, pipeline_settings: Any = None) -> int:
    """Serve until SIGTERM/SIGINT (a configuration error is raised as ConfigurationError)."""
    from gateway.server import serve_gateway

    return serve_gateway(pipeline_settings)


def run_predict(args: argparse.Namespace, _pipeline_settings: Any = None) -> int:
    """Print one JSON line per text; 1 when the gateway refuses the call."""
    import grpc

    from client.sdk import SentimentClient, error_details
    from gateway.settings import GatewaySettings

    api_key = os.environ.get(API_KEY_ENV)
    if not api_key:
        print(f"sentiment predict: set {API_KEY_ENV} to an API key", file=sys.stderr)
        return 2
    target = args.target or f"127.0.0.1:{GatewaySettings().port}"
    credentials = grpc.ssl_channel_credentials(args.ca_file.read_bytes()) if args.ca_file else None

    async def call() -> Any:
        async with SentimentClient(target, api_key, credentials=credentials) as client:
            return await client.predict_batch(
                args.texts, model=args.model, timeout=args.timeout, truncation=args.truncation
            )

    try:
        response = asyncio.run(call())
    except grpc.aio.AioRpcError as error:
        details = error_details(error)
        print(f"sentiment predict: {error.code().name}: {error.details()}", file=sys.stderr)
        for name, problem in details.field_violations.items():
            print(f"  {name}: {problem}", file=sys.stderr)
        return 1
    for text, prediction in zip(args.texts, response.predictions, strict=True):
        line = {
            "text": text,
            "label": prediction.label,
            "score": round(prediction.score, 6),
            "probabilities": {k: round(v, 6) for k, v in prediction.probabilities.items()},
            "model": response.model.name,
            "model_version": response.model.version,
            "mlflow_run_id": response.model.mlflow_run_id,
            "request_id": response.request_id,
            "audit_id": response.audit_id,
        }
        print(json.dumps(line))
    return 0
