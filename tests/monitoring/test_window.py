"""Windows (`--since`/`--until`), the too-few-samples verdict, and training's constants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.job import DriftJob
from monitoring.settings import DriftSettings
from monitoring.window import Window, parse_duration
from store import make_engine, upgrade_database
from store.models import DriftResultRow

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15", "m", "-5m", "0m", "5 minutes", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_windows_from_durations_and_timestamps() -> None:
    assert Window.parse("15m", now=NOW) == Window(NOW - timedelta(minutes=15), NOW)
    window = Window.parse("2025-05-01T10:00:00", "2025-05-01T12:00:00+01:00", now=NOW)
    assert window.start == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)  # naive means UTC
    assert window.end == datetime(2025, 5, 1, 11, 0, tzinfo=UTC)
    assert Window.parse("2h", "1h", now=NOW).end == NOW - timedelta(hours=1)
    with pytest.raises(ValueError, match="empty window"):
        Window.parse("1h", "2h", now=NOW)
    with pytest.raises(ValueError, match="not a timestamp"):
        Window.parse("yesterday", now=NOW)


def test_too_few_samples_is_no_verdict_not_no_drift(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade_database(engine)
    job = DriftJob(engine, DriftSettings(state_dir=tmp_path), tracking_uri="unused")
    summary = job.run(Window.parse("1h"))
    assert summary["samples"] == 0
    assert summary["dataset_drift"] is None and summary["prediction_drift"] is None
    assert "too few samples" in summary["reason"]
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        row = session.scalars(select(DriftResultRow)).one()
    assert row.dataset_drift is None and row.samples == 0 and row.reason == summary["reason"]
    engine.dispose()
