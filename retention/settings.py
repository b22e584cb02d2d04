"""Settings of the retention policy, read from `SENTIMENT_RETENTION_*` variables.

Each kind of data has an age limit (0: kept whatever its age) and, where a count or size
helps, a bound on those too. Audit records have a floor: their age limit cannot go below
`audit_floor_days` unless an operator lowers the floor itself, because audit data is often
kept for compliance.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from config.base import ComponentSettings

MIB = 1024 * 1024


class RetentionSettings(ComponentSettings):
    """What `sentiment retention apply` keeps, per kind of data."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_RETENTION_")

    drift_reports_max_age_days: int = Field(default=30, ge=0)
    """Drift reports (HTML + JSON) older than this many days are removed (0: any age)."""

    drift_reports_max_count: int = Field(default=100, ge=1)
    """Most drift reports kept, newest first (`sentiment drift --every 5m` writes 288 a day)."""

    drift_reports_max_bytes: int = Field(default=512 * MIB, ge=1)
    """Most bytes of drift reports kept; the newest report is kept whatever its size."""

    drift_samples_max_age_days: int = Field(default=30, ge=0)
    """Drift samples older than this many days are deleted (0: any age)."""

    drift_results_max_age_days: int = Field(default=90, ge=0)
    """Drift results (one row per drift run) older than this many days are deleted."""

    audit_max_age_days: int = Field(default=730, ge=0)
    """Audit records older than this many days are deleted (0: kept forever)."""

    audit_floor_days: int = Field(default=365, ge=1)
    """The shortest audit age limit allowed; lower it explicitly to keep audit for less."""

    model_versions_keep: int = Field(default=5, ge=1)
    """Newest complete model versions kept (the served one, the newest, is always among
    them); versions a running Triton reports loaded are kept too."""

    batch_rows: int = Field(default=5000, ge=1)
    """Rows deleted per statement: each batch is its own short transaction."""

    batch_pause_s: float = Field(default=0.05, ge=0.0)
    """Pause between two delete batches, so the gateway's writes go first."""

    @model_validator(mode="after")
    def _audit_floor(self) -> RetentionSettings:
        if 0 < self.audit_max_age_days < self.audit_floor_days:
            raise ValueError(
                f"SENTIMENT_RETENTION_AUDIT_MAX_AGE_DAYS ({self.audit_max_age_days}) is below "
                f"SENTIMENT_RETENTION_AUDIT_FLOOR_DAYS ({self.audit_floor_days}): lower the "
                "floor explicitly to keep audit records for less"
            )
        return self
