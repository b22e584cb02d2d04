"""Triton's OpenTelemetry trace mode on the command line, and `sentiment up` turning it on
from the gateway's OTEL_* variables. (That the real binary continues the gateway's trace
is tests/gateway/test_traces_end_to_end.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentiment.cli.up import triton_tracing
from serving.tritonserver import TritonInstallation, TritonServer, TritonTracing


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OTEL_"):
            monkeypatch.delenv(name)


def test_the_trace_mode_arguments() -> None:
    assert TritonTracing("http://collector:4318/v1/traces").args() == [
        "--trace-config", "mode=opentelemetry",
        "--trace-config", "level=TIMESTAMPS",
        "--trace-config", "rate=0",
        "--trace-config", "count=-1",
        "--trace-config", "opentelemetry,url=http://collector:4318/v1/traces",
        "--trace-config", "opentelemetry,resource=service.name=sentiment-triton",
    ]  # fmt: skip


def test_a_server_with_tracing_passes_them(tmp_path: Path) -> None:
    installation = TritonInstallation.find()
    tracing = TritonTracing("http://collector:4318/v1/traces", rate=100)
    traced = TritonServer(tmp_path, tmp_path / "work", tracing=tracing, installation=installation)
    plain = TritonServer(tmp_path, tmp_path / "work", installation=installation)
    assert traced.command()[-len(tracing.args()) :] == tracing.args()
    assert "--trace-config" not in plain.command()


def test_up_traces_triton_only_when_the_gateway_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    assert triton_tracing() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert triton_tracing() == TritonTracing("http://127.0.0.1:4318/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    assert triton_tracing() == TritonTracing("http://traces:4318/custom")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")  # the gateway's tracing is off
    assert triton_tracing() is None
