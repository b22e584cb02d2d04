"""SQLAlchemy 2 tables of the gateway: API keys, audit records, drift samples.

The Alembic migrations in `store/migrations` create exactly these tables; a test checks
that autogenerate finds no difference between the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {datetime: DateTime(timezone=True)}


class ApiKey(Base):
    """An API key: the token itself is never stored, only an HMAC-SHA256 of it."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Public part of the token, used to look the key up; written into audit records."""
    name: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        # One active key per name; a revoked name may be issued again.
        Index(
            "uq_api_keys_active_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


class AuditRow(Base):
    """One call attempt and its outcome (`gateway.core.contracts.AuditRecord`), keyed by the
    gateway's audit id; the client's request id is an indexed attribute (a retried call
    has one row per attempt)."""

    __tablename__ = "audit_records"

    audit_id: Mapped[str] = mapped_column(Text, primary_key=True)
    request_id: Mapped[str] = mapped_column(Text, index=True)
    method: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime]
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    texts: Mapped[list[str] | None] = mapped_column(JSON)
    text_sha256: Mapped[list[str]] = mapped_column(JSON)
    predictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_name: Mapped[str | None] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(64))
    peer: Mapped[str | None] = mapped_column(Text)
    """The caller's network address as gRPC reports it (`ipv4:10.0.0.7:51234`)."""
    request_bytes: Mapped[int | None] = mapped_column(Integer)
    """Size of the request message as received (a stream: of the message)."""
    stored_at: Mapped[datetime] = mapped_column(server_default=func.now())
    """When the background writer inserted it: `stored_at - completed_at` is the write lag."""


class DriftRow(Base):
    """A sampled prediction with the text features drift detection compares."""

    __tablename__ = "drift_samples"

    request_id: Mapped[str] = mapped_column(Text, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    sampled_at: Mapped[datetime] = mapped_column(index=True)
    text_length: Mapped[int] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)
    unknown_token_rate: Mapped[float] = mapped_column(Float)
    non_ascii_share: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    mlflow_run_id: Mapped[str] = mapped_column(String(64))


class DriftResultRow(Base):
    """One run of the drift job (`monitoring.job`) over a window of drift samples."""

    __tablename__ = "drift_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    computed_at: Mapped[datetime] = mapped_column(index=True)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    samples: Mapped[int] = mapped_column(Integer)
    dataset_drift: Mapped[bool | None] = mapped_column(Boolean)
    """None: too few samples in the window to tell (see `reason`)."""
    prediction_drift: Mapped[bool | None] = mapped_column(Boolean)
    drift_share: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    reference_run_id: Mapped[str | None] = mapped_column(String(64))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Per feature: Evidently's score, method, threshold and drift verdict."""
    report_path: Mapped[str | None] = mapped_column(Text)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))


class RetentionRunRow(Base):
    """One `sentiment retention apply` that finished (dry runs are not recorded)."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finished_at: Mapped[datetime] = mapped_column(index=True)
    removed: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The run's report: per kind, items and bytes removed and kept."""


class RolloutRow(Base):
    """One rollout of a repository version (`sentiment rollout`, docs/rollouts.md).

    While `state` is `active`, `candidate_version` answers `canary_percent` percent of
    calls (mode `canary`) or gets a copy of every call (mode `shadow`); the rest, or all
    answers, come from `served_version`. It ends `promoted` (the candidate serves every
    call) or `rolled_back` (the served version keeps them all); at most one is active.
    """

    __tablename__ = "rollouts"
    __table_args__ = (
        Index(
            "ux_rollouts_one_active",
            "state",
            unique=True,
            postgresql_where=text("state = 'active'"),
            sqlite_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    served_version: Mapped[int] = mapped_column(Integer)
    candidate_version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    canary_percent: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(index=True)
    started_by: Mapped[str] = mapped_column(String(128))
    ended_at: Mapped[datetime | None] = mapped_column()
    ended_by: Mapped[str | None] = mapped_column(String(128))
    end_reason: Mapped[str | None] = mapped_column(Text)


class RolloutEventRow(Base):
    """One transition of a rollout: who, when, what, from which version to which."""

    __tablename__ = "rollout_events"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rollout_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    """`start`, `promote`, `rollback` or `guardrail_rollback`."""
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class ShadowRow(Base):
    """The candidate's answer to a shadowed call: its own row, insert-only, linked to the
    call's audit record by `audit_id`."""

    __tablename__ = "shadow_predictions"

    shadow_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    audit_id: Mapped[str] = mapped_column(Text, index=True)
    rollout_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    served_version: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    predictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    agree: Mapped[bool | None] = mapped_column(Boolean)
    """Every text got the same label from both versions (None when the candidate failed)."""
    latency_ms: Mapped[float] = mapped_column(Float)
