"""Fixtures of the settings tests: an environment without any SENTIMENT_* variable."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the variables it is about."""
    for name in list(os.environ):
        if name.upper().startswith("SENTIMENT_"):
            monkeypatch.delenv(name)
