"""Drift report retention on a real folder: age, count and byte limits, newest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from retention.reports import list_reports, prune_reports

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def write_report(folder: Path, age: timedelta, size: int = 1000) -> str:
    """A report pair as the drift job names it, `age` before NOW; returns its stamp."""
    stamp = (NOW - age).strftime("%Y%m%dT%H%M%S%fZ")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"drift-{stamp}.html").write_bytes(b"h" * size)
    (folder / f"drift-{stamp}.json").write_bytes(b"{}")
    return stamp


def stamps(folder: Path) -> list[str]:
    return [r.files[0].name[6:-5] for r in list_reports(folder)]


def test_reports_past_the_age_limit_go_and_the_rest_stay(tmp_path: Path) -> None:
    recent = [write_report(tmp_path, timedelta(days=d)) for d in (0, 1, 29)]
    for days in (31, 45):
        write_report(tmp_path, timedelta(days=days))
    (tmp_path / "notes.txt").write_text("an operator's file")
    result = prune_reports(tmp_path, 30, 100, 10**9, now=NOW)
    assert (result.removed, result.kept) == (2, 3)
    assert result.removed_bytes == 2 * (1000 + 2)
    assert stamps(tmp_path) == recent
    assert (tmp_path / "notes.txt").read_text() == "an operator's file"


def test_only_the_newest_count_stay(tmp_path: Path) -> None:
    made = [write_report(tmp_path, timedelta(minutes=5 * i)) for i in range(10)]
    prune_reports(tmp_path, 30, 4, 10**9, now=NOW)
    assert stamps(tmp_path) == made[:4]


def test_the_byte_budget_keeps_the_newest_even_when_it_alone_is_over(tmp_path: Path) -> None:
    made = [write_report(tmp_path, timedelta(minutes=i), size=400) for i in range(5)]
    prune_reports(tmp_path, 30, 100, 1000, now=NOW)  # two pairs of 402 bytes fit
    assert stamps(tmp_path) == made[:2]
    prune_reports(tmp_path, 30, 100, 10, now=NOW)
    assert stamps(tmp_path) == made[:1]


def test_dry_run_lists_what_the_real_run_removes_and_changes_nothing(tmp_path: Path) -> None:
    for days in (1, 40, 50):
        write_report(tmp_path, timedelta(days=days))
    before = sorted(p.name for p in tmp_path.iterdir())
    dry = prune_reports(tmp_path, 30, 100, 10**9, dry_run=True, now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    real = prune_reports(tmp_path, 30, 100, 10**9, now=NOW)
    assert (dry.removed, dry.removed_bytes, dry.kept) == (real.removed, real.removed_bytes, 1)
    assert len(list(tmp_path.iterdir())) == 2  # one pair left


def test_a_day_of_five_minute_reports_stays_under_the_default_bound(tmp_path: Path) -> None:
    # docs/monitoring.md states the bound: the newest 100 reports, at most 512 MiB.
    for i in range(288):
        write_report(tmp_path, timedelta(minutes=5 * i), size=4096)
        if i % 12 == 0:
            prune_reports(tmp_path, 30, 100, 512 * 1024 * 1024, now=NOW)
    prune_reports(tmp_path, 30, 100, 512 * 1024 * 1024, now=NOW)
    assert len(list_reports(tmp_path)) == 100
