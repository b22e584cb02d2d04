"""`sentiment retention apply` on a stopped service's state directory, as an operator runs
it: the dry run lists counts and bytes per kind, the real run removes exactly that, is
recorded, and the retention gauges read the result."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from retention.metrics import RetentionCollector
from store import make_engine, upgrade_database
from tests.commands import sentiment
from tests.gateway.conftest import free_port
from tests.retention.test_reports import write_report
from tests.retention.test_tables import aged_audit, aged_samples
from tests.retention.test_versions import publish, versions


def by_kind(output: str) -> dict[str, dict[str, object]]:
    return {kind["kind"]: kind for kind in json.loads(output)["kinds"]}


def test_dry_run_then_apply_removes_exactly_what_was_listed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade_database(engine)
    aged_audit(engine, tmp_path, "old", 800, 7)
    aged_audit(engine, tmp_path, "new", 3, 2)
    aged_samples(engine, "old", 45, 11)
    reports = tmp_path / "drift-reports"
    for days in (0, 40, 41):
        write_report(reports, timedelta(days=days), size=2000)
    for version in range(1, 9):
        publish(tmp_path / "model_repository", version)
    port = {"SENTIMENT_TRITON_HTTP_PORT": str(free_port())}  # no Triton: nothing loaded

    dry = sentiment(tmp_path, "retention", "apply", "--dry-run", "--json", **port)
    assert dry.returncode == 0, dry.stderr
    listed = by_kind(dry.stdout)
    assert listed["audit_records"]["removed"] == 7
    assert listed["drift_samples"]["removed"] == 11
    assert listed["drift_reports"] == {**listed["drift_reports"], "removed": 2, "kept": 1}
    assert listed["drift_reports"]["removed_bytes"] == 2 * (2000 + 2)
    assert listed["model_versions"]["removed"] == 3  # the newest 5, the served 8 among them
    assert versions(tmp_path / "model_repository", "sentiment") == list(range(1, 9))

    real = sentiment(tmp_path, "retention", "apply", "--json", **port)
    assert real.returncode == 0, real.stderr
    assert by_kind(real.stdout) == listed
    assert versions(tmp_path / "model_repository", "sentiment") == [4, 5, 6, 7, 8]
    again = by_kind(sentiment(tmp_path, "retention", "apply", "--dry-run", "--json").stdout)
    assert all(kind["removed"] == 0 for kind in again.values())

    registry = CollectorRegistry()
    registry.register(RetentionCollector(engine, reports, str(tmp_path / "model_repository")))
    scraped = generate_latest(registry).decode()
    assert 'sentiment_retention_items{kind="audit_records"} 2.0' in scraped
    assert 'sentiment_retention_items{kind="model_versions"} 5.0' in scraped
    assert 'sentiment_retention_items{kind="drift_reports"} 1.0' in scraped
    last = next(
        line
        for line in scraped.splitlines()
        if line.startswith("sentiment_retention_last_success_timestamp_seconds ")
    )
    assert float(last.split()[1]) > 0
    engine.dispose()


def test_an_audit_age_below_the_floor_is_refused_in_one_line(tmp_path: Path) -> None:
    result = sentiment(
        tmp_path, "retention", "apply", "--dry-run", SENTIMENT_RETENTION_AUDIT_MAX_AGE_DAYS="30"
    )
    assert result.returncode == 2
    assert "SENTIMENT_RETENTION_AUDIT_FLOOR_DAYS" in result.stderr
    assert "Traceback" not in result.stderr
    lowered = sentiment(
        tmp_path,
        "retention",
        "apply",
        "--dry-run",
        SENTIMENT_RETENTION_AUDIT_MAX_AGE_DAYS="30",
        SENTIMENT_RETENTION_AUDIT_FLOOR_DAYS="30",
    )
    assert lowered.returncode == 0, lowered.stderr
