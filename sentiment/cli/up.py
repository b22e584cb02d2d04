"""`sentiment up`: Triton and the gateway in front of it, with a local API key.

This is what `make run` starts. Triton runs as a child process; the gateway serves in
this process until SIGTERM/SIGINT, drains, and then Triton is stopped. With
`OTEL_EXPORTER_OTLP_ENDPOINT` set, both send their spans to that collector
(docs/tracing.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import PipelineSettings

if TYPE_CHECKING:
    from serving.tritonserver import TritonTracing

LOCAL_KEY_NAME = "local"
LOCAL_KEY_FILE = "local-api-key"


def ensure_local_key(state_dir: Path) -> tuple[str, Path]:
    """The local API key, kept in the state dir (mode 0600); issued when missing or revoked."""
    from gateway.core.contracts import KeyRevoked
    from gateway.persistence.keys import ApiKeyStore
    from gateway.settings import ApiKeySettings
    from store import make_engine, upgrade_database
    from store.settings import DatabaseSettings

    path = state_dir / LOCAL_KEY_FILE
    engine = make_engine(DatabaseSettings().resolved_url(), pool_size=1)
    try:
        upgrade_database(engine)
        store = ApiKeyStore(engine, pepper=ApiKeySettings().pepper_bytes())
        if path.is_file():
            token = path.read_text().strip()
            try:
                if store.verify(token) is not None:
                    return token, path
            except KeyRevoked:
                pass  # issue a new one below
        store.revoke(LOCAL_KEY_NAME)  # a key whose token file was lost is useless
        token = store.create(LOCAL_KEY_NAME).token
    finally:
        engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token, path


def up(settings: PipelineSettings) -> int:
    """Start Triton, wait until it is ready, then serve the gateway in the foreground."""
    from gateway.server import serve_gateway
    from sentiment.cli.gateway import API_KEY_ENV
    from serving.admin import admin_key_path
    from serving.tritonserver import TritonServer

    _, key_file = ensure_local_key(settings.state_dir)
    triton = TritonServer.from_settings(settings, tracing=triton_tracing())
    print(f"starting Triton (log: {triton.log_path})", file=sys.stderr)
    if triton.tracing is not None:
        print(f"traces of the gateway and Triton to {triton.tracing.url}", file=sys.stderr)
    triton.start()
    try:
        triton.wait_ready(timeout=600)
        print(
            f"Triton ready: HTTP {triton.http_url}, gRPC {triton.grpc_url}, "
            f"metrics {triton.metrics_url}\n"
            f"{_admin_key_note(settings, admin_key_path(settings.state_dir))}\n"
            f"local API key in {key_file}; try:\n"
            f"  export {API_KEY_ENV}=$(cat {key_file})\n"
            f'  .venv/bin/sentiment predict "a gorgeous, witty film" "a dull mess"',
            file=sys.stderr,
        )
        return serve_gateway(settings, triton=settings.triton.on_local_host())
    finally:
        triton.stop()


def triton_tracing() -> TritonTracing | None:
    """Triton's OpenTelemetry trace mode, pointed at the gateway's collector, when the
    `OTEL_*` variables turn the gateway's tracing on; None otherwise."""
    from serving.tritonserver import TritonTracing
    from telemetry.tracing import tracing_settings

    settings = tracing_settings()
    endpoint = settings.traces_endpoint() if settings is not None else None
    return None if endpoint is None else TritonTracing(endpoint)


def _admin_key_note(settings: PipelineSettings, local_key: Path) -> str:
    where = "SENTIMENT_TRITON_ADMIN_KEY" if settings.triton.admin_key else str(local_key)
    return f"Triton's model-repository API (load, unload, index) takes the key in {where}"


def add_commands(commands: Any) -> None:
    """Add `up` to an argparse subparsers object."""
    parser = commands.add_parser("up", help="run Triton and the gateway, with a local API key")
    parser.set_defaults(handler=run_up)


def run_up(args: argparse.Namespace, settings: PipelineSettings) -> int:
    return up(settings)
