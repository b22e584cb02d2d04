"""Every dashboard panel's PromQL returns data from a real Prometheus that scrapes a live
Triton, a live gateway and the drift gauges, after a little traffic (rules included).
Panels of series that exist only during a rollout (shadow copies, the canary's observed
share) must be valid PromQL here; with no rollout running they have no data."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from config.settings import PipelineSettings
from monitoring.dashboards import DASHBOARD_DIR, DASHBOARDS, GPU_ONLY, ROLLOUT_ONLY
from monitoring.grafana_model import panel_queries
from monitoring.job import DriftJob
from monitoring.settings import DriftSettings
from monitoring.window import Window
from serving.tritonserver import has_gpu
from tests.monitoring.conftest import LiveStack, TrafficWindows

pytestmark = pytest.mark.triton


def queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel, PromQL) of every target of every dashboard."""
    return [
        (name, title, expr)
        for name in DASHBOARDS
        for title, expr in panel_queries(json.loads((DASHBOARD_DIR / name).read_text()))
    ]


@pytest.fixture(scope="module")
def scraped(
    live_stack: LiveStack,
    traffic: TrafficWindows,
    pipeline_settings: PipelineSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveStack:
    """Traffic (and one refused call) seen by Prometheus, and one drift run's gauges."""
    with pytest.raises(grpc.RpcError):  # no API key: a rejection by reason
        live_stack.gateway.stub.Predict(pb.PredictRequest(text="good"), timeout=5)
    job = DriftJob(
        engine=_engine(live_stack),
        settings=DriftSettings(report_dir=tmp_path_factory.mktemp("reports")),
        tracking_uri=pipeline_settings.tracking_uri(),
        metrics=live_stack.drift_metrics,
        log_to_mlflow=False,
    )
    job.run(Window.parse(*traffic.drifted))
    live_stack.send(["a gorgeous, witty film", "a dull mess"])  # a rate after the first scrape
    return live_stack


def _engine(stack: LiveStack) -> Any:
    from store import make_engine

    return make_engine(stack.database_url)


def during_rollout_only(expr: str) -> bool:
    return any(part in expr for part in ROLLOUT_ONLY)


def test_every_panel_query_returns_data(scraped: LiveStack) -> None:
    gpu = has_gpu()
    for _, _, expr in queries():
        scraped.query(expr)  # valid PromQL, data or not (asserts Prometheus's "success")
    wanted = [
        (d, t, e)
        for d, t, e in queries()
        if (gpu or not e.startswith(GPU_ONLY)) and not during_rollout_only(e)
    ]
    assert len(wanted) >= 40
    deadline = time.monotonic() + 60
    while True:
        empty = [(d, t, e) for d, t, e in wanted if not scraped.query(e)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not empty, "panels without data:\n" + "\n".join(f"{d} / {t}: {e}" for d, t, e in empty)


def test_the_numbers_are_the_traffic(scraped: LiveStack, traffic: TrafficWindows) -> None:
    """Not just any data: the values say what happened."""
    up = {r["metric"]["job"]: r["value"][1] for r in scraped.query("up")}
    assert up == {"triton": "1", "sentiment-gateway": "1", "sentiment-drift": "1"}
    assert float(scraped.query("sentiment_drift_dataset_drift")[0]["value"][1]) == 1.0
    samples = scraped.query("sentiment_drift_window_samples")[0]["value"][1]
    assert int(float(samples)) == traffic.drifted_count
    inferences = scraped.query('sum(nv_inference_count{model="sentiment"})')
    assert float(inferences[0]["value"][1]) >= traffic.sst2_count + traffic.drifted_count
    rejected = scraped.query('sentiment_gateway_rejections_total{reason="unauthenticated"}')
    assert float(rejected[0]["value"][1]) >= 1


def test_without_a_rollout_the_served_version_answers_every_call(scraped: LiveStack) -> None:
    """The rollout gauges say "no rollout" and each model's calls are one version's: the
    served one where the state names it (an empty label, which Prometheus drops, when the
    gateway serves Triton's latest version)."""
    state = scraped.query("sentiment_gateway_rollout_info == 1")
    assert state and {r["metric"]["mode"] for r in state} == {"none"}, state
    served = {r["metric"]["model"]: r["metric"].get("served_version") for r in state}
    answered: dict[str, set[str]] = {}
    for series in scraped.query("sum by (model, version) (sentiment_gateway_version_calls_total)"):
        answered.setdefault(series["metric"]["model"], set()).add(series["metric"]["version"])
    assert answered, "no call counted by version"
    for model, versions in answered.items():
        assert len(versions) == 1, (model, versions)
        assert served[model] in (None, *versions), (model, served[model], versions)
    shares = scraped.query("sentiment_gateway_rollout_candidate_share")
    assert shares and {float(r["value"][1]) for r in shares} == {0.0}
