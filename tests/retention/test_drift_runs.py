"""The drift experiment's MLflow runs follow the reports' policy: expired runs are deleted
and their local artifacts (a copy of each report) removed; other experiments untouched."""

from __future__ import annotations

import time
from pathlib import Path

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from retention.drift_runs import prune_drift_runs

DAY_MS = 86_400_000


def make_runs(client: MlflowClient, experiment_id: str, ages_days: list[float], tmp: Path) -> None:
    now_ms = int(time.time() * 1000)
    report = tmp / "drift-report.html"
    report.write_bytes(b"r" * 500)
    for age in ages_days:
        run = client.create_run(experiment_id, start_time=now_ms - int(age * DAY_MS))
        client.log_artifact(run.info.run_id, str(report), "drift_report")
        client.set_terminated(run.info.run_id)


def test_expired_drift_runs_and_their_artifacts_go(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    drift = client.create_experiment("sentiment-drift", str(tmp_path / "artifacts" / "drift"))
    other = client.create_experiment("training", str(tmp_path / "artifacts" / "training"))
    make_runs(client, drift, [0.1, 1, 2, 40, 41], tmp_path)
    make_runs(client, other, [90], tmp_path)

    dry = prune_drift_runs(uri, "sentiment-drift", 30, 2, dry_run=True)
    assert (dry.removed, dry.kept, dry.removed_bytes) == (3, 2, 3 * 500)
    result = prune_drift_runs(uri, "sentiment-drift", 30, 2)
    assert (result.removed, result.kept, result.removed_bytes) == (3, 2, 3 * 500)

    active = client.search_runs([drift], run_view_type=ViewType.ACTIVE_ONLY)
    assert len(active) == 2
    copies = list((tmp_path / "artifacts" / "drift").rglob("drift-report.html"))
    assert len(copies) == 2
    assert len(client.search_runs([other])) == 1
    assert len(list((tmp_path / "artifacts" / "training").rglob("drift-report.html"))) == 1
