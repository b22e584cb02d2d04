"""Gauges of the drift job, on their own registry; `sentiment drift --every` serves them
on `SENTIMENT_DRIFT_METRICS_PORT` for Prometheus to scrape (job `sentiment-drift`).

A one-shot run exits at once, so nothing could scrape it; its result stays in the
`drift_results` table and in MLflow. The scheduled job is the long-lived process that
owns the gauges, which is what Prometheus's pull model wants (no push gateway needed).
"""

from __future__ import annotations

import math
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from telemetry.metrics import MetricsEndpoint

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _flag(value: bool | None) -> float:
    return math.nan if value is None else float(value)


class DriftMetrics(MetricsEndpoint):
    """What the last drift run found; one instance per job (tests run several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.score = Gauge(
            "sentiment_drift_score",
            "Evidently drift score per feature (K-S/Z p-value: lower is more different)",
            ["feature", "method"],
            registry=r,
        )
        self.detected = Gauge(
            "sentiment_drift_feature_drifted",
            "1 when the feature drifted in the last window",
            ["feature"],
            registry=r,
        )
        self.dataset_drift = Gauge(
            "sentiment_drift_dataset_drift",
            "1 dataset drift, 0 none, NaN too few samples to tell",
            registry=r,
        )
        self.prediction_drift = Gauge(
            "sentiment_drift_prediction_drift",
            "1 predicted labels or confidence drifted, 0 not, NaN too few samples",
            registry=r,
        )
        self.share = Gauge(
            "sentiment_drift_drifted_share",
            "Share of the text features that drifted in the last window",
            registry=r,
        )
        self.samples = Gauge(
            "sentiment_drift_window_samples", "Drift samples in the last window", registry=r
        )
        self.min_samples = Gauge(
            "sentiment_drift_min_samples", "Samples a window needs for a verdict", registry=r
        )
        self.label_share = Gauge(
            "sentiment_drift_label_share",
            "Share of predicted labels, in the window (current) and the training reference",
            ["label", "dataset"],
            registry=r,
        )
        self.confidence = Gauge(
            "sentiment_drift_confidence_quantile",
            "Quantiles of the predicted label's probability, window vs reference",
            ["quantile", "dataset"],
            registry=r,
        )
        self.last_run = Gauge(
            "sentiment_drift_last_run_timestamp_seconds",
            "When the drift job last finished a run (any outcome)",
            registry=r,
        )
        self.runs = Counter(
            "sentiment_drift_runs", "Drift job runs by outcome", ["outcome"], registry=r
        )
        for outcome in ("evaluated", "insufficient", "failed"):
            self.runs.labels(outcome)

    def record(self, summary: dict[str, Any]) -> None:
        """Set every gauge from a run's summary (`monitoring.job.DriftJob.run`)."""
        self.samples.set(summary["samples"])
        self.min_samples.set(summary["min_samples"])
        self.dataset_drift.set(_flag(summary["dataset_drift"]))
        self.prediction_drift.set(_flag(summary["prediction_drift"]))
        share = summary.get("drift_share")
        self.share.set(math.nan if share is None else share)
        if not summary.get("features"):  # no verdict: drop the previous window's scores
            self.score.clear()
            self.detected.clear()
        for name, feature in summary.get("features", {}).items():
            self.score.labels(name, feature["method"]).set(feature["score"])
            self.detected.labels(name).set(float(feature["drifted"]))
        for dataset, shares in summary.get("label_shares", {}).items():
            for label, value in shares.items():
                self.label_share.labels(label, dataset).set(value)
        for dataset, quantiles in summary.get("confidence_quantiles", {}).items():
            for quantile, value in quantiles.items():
                self.confidence.labels(quantile, dataset).set(value)
        outcome = "insufficient" if summary["dataset_drift"] is None else "evaluated"
        self.runs.labels(outcome).inc()
        self.last_run.set(time.time())

    def failed(self) -> None:
        self.runs.labels("failed").inc()
        self.last_run.set(time.time())
