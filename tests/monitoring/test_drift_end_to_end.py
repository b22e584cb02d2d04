"""`sentiment drift` end to end: traffic through a real gateway in front of a real Triton
(tiny model), compared with the tiny run's reference statistics from MLflow.

SST-2 dev sentences must report no dataset drift; long, shouted and non-English text must
be flagged. Each verdict leaves an HTML + JSON report, an MLflow run and a results row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import PipelineSettings
from sentiment.cli import main
from store import make_engine
from store.models import DriftResultRow
from tests.monitoring.conftest import LiveStack, TrafficWindows

pytestmark = pytest.mark.triton


@pytest.fixture
def drift_cli(
    live_stack: LiveStack,
    pipeline_settings: PipelineSettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Run `sentiment drift ... --json` in-process against the live stack's database."""
    monkeypatch.setenv("SENTIMENT_STATE_DIR", str(pipeline_settings.state_dir))
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", live_stack.database_url)
    monkeypatch.setenv("SENTIMENT_DRIFT_REPORT_DIR", str(tmp_path / "reports"))

    def run(*args: str) -> dict[str, Any]:
        capsys.readouterr()
        assert main(["drift", *args, "--json"]) == 0
        summary: dict[str, Any] = json.loads(capsys.readouterr().out)
        print(json.dumps(summary, indent=2))  # shown with -s: the scores of the note
        return summary

    return run


def test_sst2_traffic_reports_no_drift(
    drift_cli: Any, traffic: TrafficWindows, tiny_run: Any
) -> None:
    since, until = traffic.sst2
    summary = drift_cli("--since", since, "--until", until)
    assert summary["samples"] == traffic.sst2_count
    assert summary["dataset_drift"] is False, summary["features"]
    assert (
        summary["drift_share"]
        == sum(
            summary["features"][n]["drifted"]
            for n in ["text_length", "token_count", "unknown_token_rate", "non_ascii_share"]
        )
        / 4
    )
    assert summary["reference_run_id"] == tiny_run.run_id  # the run that served the window
    assert set(summary["features"]) == {
        "text_length",
        "token_count",
        "unknown_token_rate",
        "non_ascii_share",
        "label",
        "confidence",
    }
    html = Path(summary["report"]["html"]).read_text()
    assert "<html" in html.lower() and "text_length" in html
    document = json.loads(Path(summary["report"]["json"]).read_text())
    assert document["summary"]["dataset_drift"] is False and document["evidently"]["metrics"]


def test_different_traffic_is_flagged(
    drift_cli: Any, traffic: TrafficWindows, live_stack: LiveStack
) -> None:
    since, until = traffic.drifted
    summary = drift_cli("--since", since, "--until", until)
    assert summary["samples"] == traffic.drifted_count
    assert summary["dataset_drift"] is True, summary["features"]
    drifted = {name for name, f in summary["features"].items() if f["drifted"]}
    assert {"text_length", "token_count", "non_ascii_share"} <= drifted
    text_features = ["text_length", "token_count", "unknown_token_rate", "non_ascii_share"]
    flagged = sum(summary["features"][name]["drifted"] for name in text_features)
    assert summary["drift_share"] == flagged / 4  # our verdicts agree with Evidently's

    import mlflow

    client = mlflow.tracking.MlflowClient()  # the session's embedded store
    run = client.get_run(summary["mlflow_run_id"])
    assert run.data.metrics["dataset_drift"] == 1.0
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "drift_report")}
    assert {Path(p).suffix for p in logged} == {".html", ".json"}

    engine = make_engine(live_stack.database_url)
    try:
        with Session(engine) as session:
            rows = list(session.scalars(select(DriftResultRow).order_by(DriftResultRow.id)))
    finally:
        engine.dispose()
    latest = rows[-1]
    assert latest.dataset_drift is True and latest.samples == traffic.drifted_count
    assert latest.mlflow_run_id == summary["mlflow_run_id"]
    assert latest.scores["text_length"]["drifted"] is True


def test_a_small_window_has_no_verdict(drift_cli: Any, traffic: TrafficWindows) -> None:
    since, until = traffic.sst2
    summary = drift_cli("--since", since, "--until", until, "--min-samples", "1000")
    assert summary["dataset_drift"] is None and summary["samples"] == traffic.sst2_count
    assert summary["reason"].startswith("too few samples")
    assert summary["report"] is None
