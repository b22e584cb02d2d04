"""The drift job's MLflow runs: one per drift run, each carrying a copy of its report.

The drift experiment's runs follow the drift reports' policy (age and count): a run that
goes is marked deleted in MLflow, and its artifacts are removed where they are local files
(the embedded store in the state directory). Artifacts in object storage are removed by
the bucket's lifecycle rule (`drift-reports/`, docs/deployment.md).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from retention.report import KindResult
from retention.versions import folder_size


def _local_folder(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path))


def prune_drift_runs(
    tracking_uri: str,
    experiment: str,
    max_age_days: int,
    max_count: int,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> KindResult:
    """Delete (or, in a dry run, count) the drift experiment's runs the policy expires."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    limit = f"the drift reports' policy (older than {max_age_days} days, newest {max_count})"
    if found is None:
        return KindResult("drift_runs", 0, 0, 0, limit)
    runs = client.search_runs(
        [found.experiment_id],
        run_view_type=ViewType.ACTIVE_ONLY,
        order_by=["attributes.start_time DESC"],
        max_results=50_000,
    )
    cutoff = (now or datetime.now(UTC)) - timedelta(days=max_age_days) if max_age_days else None
    expired = [
        run
        for position, run in enumerate(runs)
        if position >= max_count
        or (cutoff is not None and datetime.fromtimestamp(run.info.start_time / 1000, UTC) < cutoff)
    ]
    size = 0
    for run in expired:
        folder = _local_folder(run.info.artifact_uri)
        size += folder_size(folder) if folder is not None else 0
        if not dry_run:
            client.delete_run(run.info.run_id)
            if folder is not None and folder.is_dir():
                shutil.rmtree(folder)
    return KindResult("drift_runs", len(expired), size, len(runs) - len(expired), limit)
