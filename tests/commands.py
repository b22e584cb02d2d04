"""Running the installed `sentiment` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SENTIMENT = str(Path(sys.executable).with_name("sentiment"))
"""The venv's console script."""


def command_environment(state: Path, **env: str) -> dict[str, str]:
    """This process's environment without anything a test session set for itself (no
    SENTIMENT_* variable, no MLFLOW_TRACKING_URI that mlflow exported), on `state`."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SENTIMENT_") and key != "MLFLOW_TRACKING_URI"
    }
    return {**inherited, "SENTIMENT_STATE_DIR": str(state), "HF_HUB_OFFLINE": "1", **env}


def sentiment(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `sentiment ARGS...` on the state directory `state` to its end."""
    return subprocess.run(
        [SENTIMENT, *args],
        env=command_environment(state, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def refusal(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The command's one error line; fails on a traceback or several error lines."""
    assert "Traceback" not in result.stderr, result.stderr
    prefix = f"sentiment {command}:"
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, result.stderr
    return lines[0]
