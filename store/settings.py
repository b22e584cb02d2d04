"""Settings of the gateway's persistence: database, audit spool, API keys, drift samples.

Read from the environment with the ``SENTIMENT_`` prefix (``SENTIMENT_DATABASE_URL``,
``SENTIMENT_AUDIT_SPOOL_DIR``, ...). The defaults keep everything in the project's local
state directory: an embedded SQLite file and a spool folder next to it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class PersistenceSettings(BaseSettings):
    """Where audit records, API keys and drift samples are kept."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".state"
    """Local state (shared with the pipeline settings): default database and spool live here."""

    database_url: SecretStr | None = None
    """SQLAlchemy URL, e.g. `postgresql+psycopg2://user:pw@host:5432/db`. Unset: SQLite file
    `<state_dir>/gateway.db`. Secret because it may carry a password."""

    audit_spool_dir: Path | None = None
    """Write-ahead spool folder of the audit log. Unset: `<state_dir>/audit-spool`."""

    audit_spool_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """Bound on audit bytes spooled but not yet in the database; beyond it the gateway is
    NOT_SERVING and rejects requests with UNAVAILABLE."""

    audit_spool_resume_ratio: float = Field(default=0.8, gt=0.0, le=1.0)
    """After the spool was full, accept again once it drains below this share of the bound."""

    audit_segment_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    """Spool segment size: a segment is deleted once all its records are in the database."""

    audit_batch_records: int = Field(default=500, gt=0)
    """Most audit records inserted in one database statement."""

    audit_write_interval_s: float = Field(default=0.2, ge=0.0)
    """How long spooled records may gather before a database write (0: write at once).
    Batching keeps the database and checkpoint fsyncs off the disk the request path fsyncs."""

    audit_retry_initial_s: float = Field(default=0.2, gt=0.0)
    """First wait before retrying a failed database write (doubles up to the maximum)."""

    audit_retry_max_s: float = Field(default=5.0, gt=0.0)
    """Longest wait between database write retries."""

    audit_store_text: bool = True
    """Store request texts in audit records; False keeps only their SHA-256 hashes."""

    api_key_pepper: SecretStr | None = None
    """Server-side secret mixed into API key hashes (HMAC key). Changing it invalidates all
    keys. Unset: keys are hashed with their per-key salt only."""

    api_key_cache_ttl_s: float = Field(default=5.0, ge=0.0)
    """How long a key lookup is reused before the database is asked again (revocation delay)."""

    api_key_stale_ttl_s: float = Field(default=600.0, ge=0.0)
    """While the database is unreachable, keys seen within this many seconds still work."""

    drift_sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    """Share of requests whose predictions are stored as drift samples (chosen by request id)."""

    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'gateway.db'}"

    def resolved_spool_dir(self) -> Path:
        return self.audit_spool_dir or self.state_dir / "audit-spool"

    def pepper_bytes(self) -> bytes:
        return self.api_key_pepper.get_secret_value().encode() if self.api_key_pepper else b""
