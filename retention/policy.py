"""`sentiment retention apply`: the whole policy, kind by kind, in one pass.

Works with the service stopped (it needs only the database and the state directory) and
with it running: database rows go in short batches, drift reports and model versions are
plain files. A real run (not a dry run) is recorded in `retention_runs`, which is what the
`sentiment_retention_last_success_timestamp_seconds` gauge and its alert read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert

from contract.layout import is_remote
from retention.drift_runs import prune_drift_runs
from retention.report import KindResult, RetentionReport
from retention.reports import prune_reports
from retention.settings import RetentionSettings
from retention.tables import prune_rows
from retention.versions import prune_versions
from store.models import RetentionRunRow


@dataclass(frozen=True)
class Locations:
    """Where one deployment keeps what the policy prunes (besides its database)."""

    report_dir: Path
    """The drift job's report folder (`<state dir>/drift-reports` by default)."""
    repository: str
    """The model repository: a local folder, or a cloud URL left to lifecycle rules."""
    tracking_uri: str | None = None
    """MLflow, whose drift experiment holds a copy of each report; None: not pruned."""
    drift_experiment: str = "sentiment-drift"


def apply(
    settings: RetentionSettings,
    engine: Engine,
    where: Locations,
    protected_versions: Collection[int] = (),
    *,
    dry_run: bool = False,
) -> RetentionReport:
    """Enforce the policy (or, with `dry_run`, only measure it) and report per kind."""
    now = datetime.now(UTC)
    s = settings
    report = RetentionReport(dry_run=dry_run)
    report.kinds.extend(
        prune_drift_reports(
            s,
            where.report_dir,
            where.tracking_uri,
            where.drift_experiment,
            dry_run=dry_run,
            now=now,
        )
    )
    for kind, days in (
        ("drift_samples", s.drift_samples_max_age_days),
        ("drift_results", s.drift_results_max_age_days),
        ("audit_records", s.audit_max_age_days),
        ("shadow_predictions", s.audit_max_age_days),  # part of the audit trail
    ):
        report.kinds.append(
            prune_rows(
                engine,
                kind,
                days,
                batch_rows=s.batch_rows,
                pause_s=s.batch_pause_s,
                dry_run=dry_run,
                now=now,
            )
        )
    repository = where.repository
    if is_remote(repository):
        limit = f"{repository}: S3 lifecycle rules and the release script (docs/deployment.md)"
        report.kinds.append(KindResult("model_versions", 0, 0, 0, limit))
    else:
        report.kinds.append(
            prune_versions(
                Path(repository), s.model_versions_keep, protected_versions, dry_run=dry_run
            )
        )
    if not dry_run:
        record(engine, report)
    return report


def prune_drift_reports(
    settings: RetentionSettings,
    report_dir: Path,
    tracking_uri: str | None,
    experiment: str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[KindResult]:
    """The drift reports' policy, on the report folder and, when `tracking_uri` is given, on
    the drift experiment's MLflow runs (each holds a copy of its report)."""
    s = settings
    limits = (s.drift_reports_max_age_days, s.drift_reports_max_count)
    kinds = [
        prune_reports(report_dir, *limits, s.drift_reports_max_bytes, dry_run=dry_run, now=now)
    ]
    if tracking_uri is not None:
        kinds.append(prune_drift_runs(tracking_uri, experiment, *limits, dry_run=dry_run, now=now))
    return kinds


def record(engine: Engine, report: RetentionReport) -> None:
    """Store a finished run in `retention_runs`."""
    with engine.begin() as connection:
        connection.execute(
            insert(RetentionRunRow),
            [{"finished_at": datetime.now(UTC), "removed": report.as_dict()}],
        )
