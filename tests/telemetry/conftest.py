"""Fixtures of the telemetry tests: no `OTEL_*` variable unless a test sets it, and a real
OTLP/HTTP receiver on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.otlp import OtlpReceiver


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the variables it is about."""
    for name in list(os.environ):
        if name.upper().startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.close()
