"""The drift job: a window of drift samples against the training reference, with Evidently.

`DriftJob.run(window)` returns the summary that `sentiment drift --json` prints, and leaves
behind an HTML + JSON report (state dir and MLflow), a `drift_results` row, and the gauges.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitoring.evaluate import Evaluation, evaluate
from monitoring.exporter import QUANTILES, DriftMetrics
from monitoring.reference import LABELS, load_reference, reference_frame
from monitoring.settings import DriftSettings
from monitoring.window import Window, load_samples
from store.models import DriftResultRow

log = logging.getLogger(__name__)


def label_shares(labels: pd.Series) -> dict[str, float]:
    total = max(len(labels), 1)
    counts = Counter(labels)
    return {label: counts.get(label, 0) / total for label in LABELS}


def confidence_quantiles(values: pd.Series) -> dict[str, float]:
    quantiles = np.quantile(values.to_numpy(dtype=float), QUANTILES)
    return {str(q): float(v) for q, v in zip(QUANTILES, quantiles, strict=True)}


@dataclass
class DriftJob:
    """One configured drift job; `run` is called once or on a schedule."""

    engine: Engine
    settings: DriftSettings
    tracking_uri: str
    artifact_root: str | None = None
    """Artifact location for the drift experiment when MLflow is the embedded store."""
    reference_run_id: str | None = None
    """Compare with this MLflow run's reference; None: the run that served the window."""
    metrics: DriftMetrics | None = None
    log_to_mlflow: bool = True

    def run(self, window: Window) -> dict[str, Any]:
        samples = load_samples(self.engine, window)
        summary: dict[str, Any] = {
            "window": window.as_dict(),
            "samples": len(samples),
            "min_samples": self.settings.min_samples,
            "dataset_drift": None,
            "prediction_drift": None,
            "drift_share": None,
            "reason": None,
            "features": {},
            "model_versions": sorted({str(v) for v in samples["model_version"]}),
            "reference_run_id": None,
            "report": None,
            "mlflow_run_id": None,
        }
        if len(samples):
            summary["label_shares"] = {"current": label_shares(samples["label"])}
            summary["confidence_quantiles"] = {
                "current": confidence_quantiles(samples["confidence"])
            }
        if len(samples) < self.settings.min_samples:
            summary["reason"] = (
                f"too few samples: {len(samples)} in the window, "
                f"{self.settings.min_samples} needed for a verdict"
            )
        else:
            run_id = self.reference_run_id or _serving_run(samples)
            summary["reference_run_id"] = run_id
            reference = reference_frame(load_reference(self.tracking_uri, run_id))
            evaluation = evaluate(samples, reference, self.settings.share)
            summary.update(
                dataset_drift=evaluation.dataset_drift,
                prediction_drift=evaluation.prediction_drift,
                drift_share=evaluation.drift_share,
                reason=_reason(evaluation),
                features={n: f.as_dict() for n, f in evaluation.features.items()},
            )
            summary["label_shares"]["reference"] = label_shares(reference["label"])
            summary["confidence_quantiles"]["reference"] = confidence_quantiles(
                reference["confidence"]
            )
            summary["report"] = self._write_report(summary, evaluation)
            if self.log_to_mlflow:
                summary["mlflow_run_id"] = self._log_to_mlflow(summary)
        self._store(summary)
        if self.metrics is not None:
            self.metrics.record(summary)
        return summary

    def _write_report(self, summary: dict[str, Any], evaluation: Evaluation) -> dict[str, str]:
        folder = self.settings.resolved_report_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        html, document = folder / f"drift-{stamp}.html", folder / f"drift-{stamp}.json"
        evaluation.snapshot.save_html(str(html))
        report = {"summary": summary, "evidently": evaluation.snapshot.dict()}
        document.write_text(json.dumps(report, indent=2, default=str))
        return {"html": str(html), "json": str(document)}

    def _log_to_mlflow(self, summary: dict[str, Any]) -> str:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment = client.get_experiment_by_name(self.settings.experiment)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(
                self.settings.experiment,
                artifact_location=self.settings.artifact_location or self.artifact_root,
            )
        )
        run = client.create_run(
            experiment_id,
            run_name=f"drift {summary['window']['since']} .. {summary['window']['until']}",
            tags={"reference_run_id": summary["reference_run_id"] or ""},
        )
        run_id = run.info.run_id
        for key, value in {**summary["window"], "samples": summary["samples"]}.items():
            client.log_param(run_id, key, value)
        metrics = {
            "dataset_drift": float(summary["dataset_drift"]),
            "prediction_drift": float(summary["prediction_drift"]),
            "drifted_share": float(summary["drift_share"]),
            **{f"score_{n}": f["score"] for n, f in summary["features"].items()},
        }
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        for path in summary["report"].values():
            client.log_artifact(run_id, path, "drift_report")
        client.set_terminated(run_id)
        return str(run_id)

    def _store(self, summary: dict[str, Any]) -> None:
        row = DriftResultRow(
            computed_at=datetime.now(UTC),
            window_start=datetime.fromisoformat(summary["window"]["since"]),
            window_end=datetime.fromisoformat(summary["window"]["until"]),
            samples=summary["samples"],
            dataset_drift=summary["dataset_drift"],
            prediction_drift=summary["prediction_drift"],
            drift_share=summary["drift_share"],
            reason=summary["reason"],
            reference_run_id=summary["reference_run_id"],
            scores=summary["features"],
            report_path=(summary["report"] or {}).get("html"),
            mlflow_run_id=summary["mlflow_run_id"],
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)


def _serving_run(samples: pd.DataFrame) -> str:
    """The MLflow run that served most of the window (the reference to compare with)."""
    return str(samples["mlflow_run_id"].mode().iloc[0])


def _reason(evaluation: Evaluation) -> str:
    drifted = [name for name, f in evaluation.features.items() if f.drifted]
    if not drifted:
        return "no feature drifted"
    verdict = "dataset drift" if evaluation.dataset_drift else "no dataset drift"
    return f"{verdict}: drifted {', '.join(drifted)}"
