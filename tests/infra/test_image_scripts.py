"""The small programs baked into the gateway image, run against real counterparts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

DOCKER = Path(__file__).resolve().parents[2] / "infra" / "docker"
PROBE = DOCKER / "grpc_health_check.py"


@pytest.fixture()
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(0)


def probe(port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENTIMENT_GATEWAY_PORT": str(port)}
    env.pop("SENTIMENT_GATEWAY_TLS_CERT_FILE", None)
    env.pop("SENTIMENT_TLS_CERT_FILE", None)
    return subprocess.run(
        [sys.executable, str(PROBE)], env=env, capture_output=True, text=True, timeout=30
    )


def test_health_probe_follows_the_serving_status(health_server: tuple[int, object]) -> None:
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)  # type: ignore[attr-defined]
    assert probe(port).returncode == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # type: ignore[attr-defined]
    assert probe(port).returncode == 1


def test_health_probe_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert probe(port).returncode == 1


def test_database_url_is_assembled_with_a_quoted_password() -> None:
    from sqlalchemy.engine import make_url

    sys.path.insert(0, str(DOCKER))
    try:
        import gateway_entrypoint
    finally:
        sys.path.remove(str(DOCKER))
    env = {
        "SENTIMENT_DB_HOST": "db.internal",
        "SENTIMENT_DB_USER": "sentiment",
        "SENTIMENT_DB_PASSWORD": "p@ss:w/rd#1?",
    }
    url = make_url(gateway_entrypoint.database_url(env) or "")
    assert (url.host, url.port, url.database, url.password) == (
        "db.internal", 5432, "sentiment", "p@ss:w/rd#1?"
    )  # fmt: skip
    assert url.query["sslmode"] == "require"
    assert gateway_entrypoint.database_url({"SENTIMENT_DB_HOST": "x"}) is None


def test_with_iam_auth_the_database_url_has_no_password() -> None:
    """The gateway's URL on ECS: its own role, TLS, and a token per connection instead."""
    from sqlalchemy.engine import make_url

    from store.settings import DatabaseSettings

    sys.path.insert(0, str(DOCKER))
    try:
        import gateway_entrypoint
    finally:
        sys.path.remove(str(DOCKER))
    env = {
        "SENTIMENT_DB_HOST": "db.internal",
        "SENTIMENT_DB_USER": "sentiment_gateway",
        "SENTIMENT_DATABASE_IAM_AUTH": "true",
    }
    text = gateway_entrypoint.database_url(env) or ""
    url = make_url(text)
    assert (url.username, url.password, url.query["sslmode"]) == (
        "sentiment_gateway",
        None,
        "require",
    )
    settings = DatabaseSettings(url=text, iam_auth=True)  # passes the TLS check
    assert settings.iam_auth
    assert gateway_entrypoint.database_url({**env, "SENTIMENT_DATABASE_IAM_AUTH": "false"}) is None


def test_pipeline_image_runs_sentiment_with_the_database_url(tmp_path: Path) -> None:
    """`pipeline-job.sh sentiment ARGS` (the scheduled `sentiment retention apply`) goes
    through the gateway's entry point: the URL is assembled, the bare password dropped."""
    scripts = DOCKER.parent / "scripts"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # As in the image: python3 and the `sentiment` console script side by side on PATH.
    (bin_dir / "python3").symlink_to(sys.executable)
    entrypoint = bin_dir / "sentiment-entrypoint"
    entrypoint.write_text((DOCKER / "gateway_entrypoint.py").read_text())
    entrypoint.chmod(0o755)
    stub = bin_dir / "sentiment"  # records what the real command would receive
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\nenv > {tmp_path}/env\n')
    stub.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "SENTIMENT_DB_HOST": "db.internal",
        "SENTIMENT_DB_USER": "sentiment",
        "SENTIMENT_DB_PASSWORD": "p@ss:w/rd#1?",
        "SENTIMENT_DB_SSLMODE": "require",
    }
    result = subprocess.run(
        ["bash", str(scripts / "pipeline-job.sh"), "sentiment", "retention", "apply", "--dry-run"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "args").read_text().split() == ["retention", "apply", "--dry-run"]
    received = dict(
        line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
    )
    assert "SENTIMENT_DB_PASSWORD" not in received
    from sqlalchemy.engine import make_url

    url = make_url(received["SENTIMENT_DATABASE_URL"])
    assert (url.host, url.password, url.query["sslmode"]) == (
        "db.internal",
        "p@ss:w/rd#1?",
        "require",
    )
