"""Settings of the drift job, read from the environment with the ``SENTIMENT_`` prefix.

The database URL and state dir are the gateway's (`PersistenceSettings`): the job reads
the drift samples the gateway wrote, and writes its results beside them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.settings import PROJECT_ROOT


class DriftSettings(BaseSettings):
    """How the drift job decides and where it puts its reports and gauges."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".state"
    """Local state (shared with the pipeline and the gateway)."""

    drift_min_samples: int = Field(default=100, ge=1)
    """Fewest samples a window needs for a verdict; fewer gives `dataset_drift: null`."""

    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    """Dataset drift when at least this share of the text features drifted (Evidently)."""

    drift_report_dir: Path | None = None
    """Where HTML + JSON reports go. Unset: `<state_dir>/drift-reports`."""

    drift_experiment: str = "sentiment-drift"
    """MLflow experiment that gets one run (metrics + reports) per drift job run."""

    drift_metrics_host: str = "0.0.0.0"
    """Address of the drift gauges' HTTP exporter (`sentiment drift --every`)."""

    drift_metrics_port: int = Field(default=9103, ge=0, le=65535)
    """Port of the drift gauges' exporter (0 picks a free port)."""

    def resolved_report_dir(self) -> Path:
        return self.drift_report_dir or self.state_dir / "drift-reports"
