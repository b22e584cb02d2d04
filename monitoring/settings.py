"""Settings of the drift job, read from `SENTIMENT_DRIFT_*` variables.

The job reads the drift samples the gateway wrote (at the gateway's
`SENTIMENT_GATEWAY_DRIFT_SAMPLE_RATE`) from the store's database
(`store.settings.DatabaseSettings`), and writes its results beside them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from config.base import ComponentSettings


class DriftSettings(ComponentSettings):
    """How the drift job decides and where it puts its reports and gauges."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_DRIFT_")

    min_samples: int = Field(default=100, ge=1)
    """Fewest samples a window needs for a verdict; fewer gives `dataset_drift: null`."""

    share: float = Field(default=0.5, gt=0.0, le=1.0)
    """Dataset drift when at least this share of the text features drifted (Evidently)."""

    report_dir: Path | None = None
    """Where HTML + JSON reports go. Unset: `<state_dir>/drift-reports`."""

    experiment: str = "sentiment-drift"
    """MLflow experiment that gets one run (metrics + reports) per drift job run."""

    artifact_location: str | None = None
    """Where the experiment keeps its runs' artifacts when the job creates it, e.g.
    `s3://<mlflow bucket>/drift-reports` (Terraform output `drift_reports_artifact_location`,
    whose lifecycle rule expires them). Unset: MLflow's default (the embedded store's
    artifact folder in the state directory)."""

    metrics_host: str = "0.0.0.0"
    """Address of the drift gauges' HTTP exporter (`sentiment drift --every`)."""

    metrics_port: int = Field(default=9103, ge=0, le=65535)
    """Port of the drift gauges' exporter (0 picks a free port)."""

    def resolved_report_dir(self) -> Path:
        return self.report_dir or self.state_dir / "drift-reports"
