"""Expected failures of the real `sentiment` command: one line on stderr, non-zero exit.

Each case runs the installed command in a subprocess, on an empty state directory, and
produces the failure for real: a bad setting, a database that refuses connections, a
Triton whose model cannot load, a repository that does not exist, nothing to export.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands import refusal, sentiment
from tests.gateway.conftest import free_port


def test_invalid_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    result = sentiment(tmp_path, "models", SENTIMENT_TRITON_HTTP_PORT="eighty")
    assert result.returncode == 2
    assert "TRITON_HTTP_PORT" in refusal(result, "models").upper()


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/none"
    result = sentiment(tmp_path, "keys", "list", SENTIMENT_DATABASE_URL=url)
    assert result.returncode == 1
    assert "database unreachable" in refusal(result, "keys")


def test_missing_repository_stops_triton_with_one_line(tmp_path: Path) -> None:
    result = sentiment(tmp_path, "triton")
    assert result.returncode == 1
    assert "does not exist" in refusal(result, "triton")


def test_nothing_to_export_is_one_line(tmp_path: Path) -> None:
    result = sentiment(tmp_path, "export", "--no-load")
    assert result.returncode == 1
    assert "has no versions" in refusal(result, "export")


@pytest.mark.triton
def test_triton_that_cannot_start_stops_up_with_its_cause(tmp_path: Path) -> None:
    model = tmp_path / "model_repository" / "broken"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 1\n')
    (model / "1" / "model.py").write_text("raise RuntimeError('boom at import')\n")
    ports = {
        f"SENTIMENT_TRITON_{kind}_PORT": str(free_port()) for kind in ("HTTP", "GRPC", "METRICS")
    }
    result = sentiment(tmp_path, "up", **ports)
    assert result.returncode == 1
    line = refusal(result, "up")
    assert "boom at import" in line and "tritonserver.log" in line
