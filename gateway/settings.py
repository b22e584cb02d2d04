"""Typed settings of the gRPC gateway (`sentiment gateway`), one class per prefix.

- `GatewaySettings`, `SENTIMENT_GATEWAY_*`: ports, request limits, the calls to Triton,
  TLS, drift sampling (Triton's address itself is `SENTIMENT_TRITON_*`, `config.triton`).
- `AuditSettings`, `SENTIMENT_AUDIT_*`: the audit log's spool and database writer.
- `ApiKeySettings`, `SENTIMENT_API_KEY_*`: how API keys are hashed, the key table's
  refresh and its local snapshot.

The database is the store's (`store.settings.DatabaseSettings`). Most gateway knobs had no
`GATEWAY_` in their name before (`SENTIMENT_MAX_TEXT_CHARS`); those names still work for
one release, with a warning. A missing or invalid value stops start-up with a
`ConfigurationError` naming the variable.
"""

from __future__ import annotations

import secrets
import socket
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from config.base import ComponentSettings, Renamed, renamed_from
from config.errors import DeprecatedVariableWarning
from config.triton import TritonSettings


class GatewaySettings(ComponentSettings):
    """Ports, request limits, upstream calls and security of the gateway."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_GATEWAY_")

    renamed = renamed_from(
        "SENTIMENT_",
        *("models", "tokenizer_dir", "max_text_chars", "max_tokens", "max_batch_texts"),
        *("max_message_bytes", "rate_limit_per_second", "rate_limit_burst", "max_in_flight"),
        *("default_timeout_seconds", "triton_deadline_margin_seconds", "triton_retries"),
        *("triton_retry_backoff_seconds", "model_info_ttl_seconds", "tls_cert_file"),
        *("tls_key_file", "tls_client_ca_file", "reflection", "drain_seconds"),
        *("health_poll_seconds", "drift_sample_rate"),
    )
    retired: ClassVar[Mapping[str, str]] = {
        "SENTIMENT_LABELS": "the labels come from the served model's pipeline.json"
    }

    host: str = "0.0.0.0"
    """Address the gRPC server binds to."""

    port: int = Field(default=50051, ge=0, le=65535)
    """gRPC port of the gateway (0 picks a free port)."""

    metrics_port: int = Field(default=9102, ge=0, le=65535)
    """Prometheus metrics port of the gateway (0 picks a free port)."""

    triton: TritonSettings = Field(default_factory=TritonSettings)
    """The Triton the gateway calls, on its gRPC port (`SENTIMENT_TRITON_*`)."""

    models: list[str] = Field(default_factory=lambda: ["sentiment", "sentiment_int8"], min_length=1)
    """Triton models a request may select (JSON list); the first is the default. FP32
    stays the default on CPU too: through Triton here INT8 served 1.08x and 1.16x the
    texts/s at concurrency 16 in two `make bench` runs, at 0.8784 SST-2 dev accuracy
    against FP32's 0.8796 (docs/benchmarks.md)."""

    tokenizer_dir: Path | None = None
    """Folder with the served model's `tokenizer.json` (and `../pipeline.json`); default:
    the newest `sentiment_tokenizer` version in the pipeline's model repository."""

    max_text_chars: int | None = Field(default=None, ge=1)
    """Longest text accepted, in characters; unset (the default): no character limit, the
    token limit decides and the message size bounds the work. Setting it refuses some texts
    within the token limit (WordPiece reads any word over 100 characters as one token)."""

    max_tokens: int | None = Field(default=None, ge=2)
    """Most word pieces per text (special tokens included); default and most the served
    model's max_length (512 for MiniLM). Longer texts are refused unless the request asks
    for truncation; truncation cuts at the model's max_length."""

    max_batch_texts: int = Field(default=64, ge=1)
    """Most texts in one PredictBatch call."""

    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request message; larger ones get RESOURCE_EXHAUSTED. The default holds a
    510-word text of 100-character words of 4-byte characters (203 KB, 512 tokens) five
    times over."""

    rate_limit_per_second: float = Field(default=200.0, gt=0)
    """Texts per second each API key may send on average (token bucket refill rate)."""

    rate_limit_burst: int = Field(default=400, ge=1)
    """Texts an API key may send at once (token bucket size)."""

    max_in_flight: int = Field(default=128, ge=1)
    """Requests processed at once; more are shed with RESOURCE_EXHAUSTED."""

    max_in_flight_per_key: int = Field(default=64, ge=1)
    """Requests processed at once for one API key: one caller cannot take every slot."""

    refusals_per_second_per_peer: float = Field(default=5.0, gt=0)
    """Failed authentications a network peer (host) may cause per second on average;
    beyond it they are answered RESOURCE_EXHAUSTED with RetryInfo (back off), not
    UNAUTHENTICATED. Valid keys from the same address are not affected."""

    refusal_burst_per_peer: int = Field(default=20, ge=1)
    """Failed authentications a peer may cause at once."""

    refusal_hold_max_seconds: float = Field(default=1.0, ge=0)
    """A refusal past the peer's budget is answered after the delay its RetryInfo names
    (at most this long; 0: at once): a caller that ignores RetryInfo and sends again at
    once still cannot refuse more than its budget allows, whatever its concurrency."""

    refusal_hold_max_calls: int = Field(default=256, ge=0)
    """Refusals held at once (each keeps its request message until it is answered);
    beyond it they are answered at once."""

    stream_idle_timeout_seconds: float = Field(default=60.0, gt=0)
    """A PredictStream without a message for this long is ended (RESOURCE_EXHAUSTED)."""

    stream_max_lifetime_seconds: float = Field(default=3600.0, gt=0)
    """A PredictStream open this long is ended; the client opens a new one."""

    stream_max_messages: int = Field(default=100_000, ge=1)
    """Messages one PredictStream may carry."""

    max_concurrent_streams: int = Field(default=100, ge=1)
    """Calls open at once on one client connection (HTTP/2 streams; unary calls count)."""

    default_timeout_seconds: float = Field(default=10.0, gt=0)
    """Deadline used when a caller sends none."""

    triton_deadline_margin_seconds: float = Field(default=0.02, ge=0)
    """Time kept back from the caller's deadline for the gateway's own work."""

    triton_retries: int = Field(default=1, ge=0)
    """Retries of a Triton call whose connection failed before Triton answered (0 or 1,
    within the deadline): a call reaches Triton at most twice. What Triton answers (queue
    full, model not ready) and deadlines are never retried; callers get RESOURCE_EXHAUSTED
    or UNAVAILABLE with RetryInfo. Values above 1 count as 1, with a warning."""

    triton_retry_backoff_seconds: float = Field(default=0.05, gt=0)
    """Delay before that retry."""

    triton_overloaded_retry_after_seconds: float = Field(default=0.25, gt=0)
    """RetryInfo delay sent with RESOURCE_EXHAUSTED when Triton's queue is full."""

    triton_unavailable_retry_after_seconds: float = Field(default=1.0, gt=0)
    """RetryInfo delay sent with UNAVAILABLE when Triton or the model is not there."""

    triton_keepalive_seconds: float = Field(default=10.0, gt=0)
    """Interval of HTTP/2 keepalive pings to Triton (at most two between calls, as Triton's
    default ping policy allows), so a connection to a vanished Triton is noticed."""

    triton_keepalive_timeout_seconds: float = Field(default=5.0, gt=0)
    """A connection to Triton whose ping is unanswered this long is closed (its calls fail
    and are retried once on another connection)."""

    triton_channel_max_age_seconds: float = Field(default=60.0, gt=0)
    """Age at which the channel to Triton is replaced (calls on it finish first): the new
    one resolves Triton's DNS name again and connects to every address, so Triton tasks
    added behind the name get their share. Triton cannot close connections by age itself."""

    @field_validator("triton_retries")
    @classmethod
    def _at_most_one_retry(cls, retries: int) -> int:
        if retries > 1:
            # Like a renamed variable's warning: the cause is a setting, not a line of code.
            warnings.warn_explicit(
                f"{cls.variable_as_set('triton_retries')}={retries}: a Triton call is retried "
                "at most once (only when its connection failed); using 1",
                DeprecatedVariableWarning,
                "<environment>",
                0,
            )
            return 1
        return retries

    model_info_ttl_seconds: float = Field(default=30.0, gt=0)
    """How long the model version and MLflow run id read from Triton are cached."""

    tls_cert_file: Path | None = None
    """Server certificate (PEM); set with tls_key_file to serve TLS."""

    tls_key_file: Path | None = None
    """Server private key (PEM)."""

    tls_client_ca_file: Path | None = None
    """CA bundle (PEM) for client certificates; set to require mTLS."""

    reflection: bool = False
    """Serve gRPC server reflection."""

    drain_seconds: float = Field(default=20.0, ge=0)
    """On SIGTERM, how long in-flight calls may take to finish."""

    health_poll_seconds: float = Field(default=1.0, gt=0)
    """How often Triton readiness and the audit path are checked for health."""

    drift_sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    """Share of requests whose predictions are stored as drift samples (chosen by request
    id) for the drift job (`SENTIMENT_DRIFT_*`)."""

    rollout_poll_seconds: float = Field(default=2.0, gt=0, le=5.0)
    """How often the rollout state is read from the database: every replica follows a
    `sentiment rollout` command within this time (docs/rollouts.md)."""

    guardrail_enabled: bool = True
    """Roll a rollout back by itself when its candidate does worse than the served version
    by more than the margins below."""

    guardrail_window_seconds: float = Field(default=60.0, gt=0)
    """The window of recent calls the guardrail compares."""

    guardrail_min_calls: int = Field(default=50, ge=1)
    """Calls each version needs in the window before the guardrail judges."""

    guardrail_error_margin: float = Field(default=0.05, ge=0.0, le=1.0)
    """How far the candidate's error rate may exceed the served version's (a fraction)."""

    guardrail_latency_margin_ms: float = Field(default=250.0, ge=0.0)
    """How far the candidate's p99 latency may exceed the served version's."""

    shadow_queue_size: int = Field(default=256, ge=1)
    """Shadow copies waiting for the candidate; a copy beyond it is dropped and counted."""

    shadow_workers: int = Field(default=2, ge=1)
    """Shadow copies sent at once."""

    shadow_timeout_seconds: float = Field(default=10.0, gt=0)
    """Deadline of one shadow copy."""

    @field_validator("tls_cert_file", "tls_key_file", "tls_client_ca_file")
    @classmethod
    def _existing_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file {path}")
        return path

    @model_validator(mode="after")
    def _complete_tls(self) -> GatewaySettings:
        cert, key, ca = (
            self.variable_as_set(field)
            for field in ("tls_cert_file", "tls_key_file", "tls_client_ca_file")
        )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(f"{cert} and {key} must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(f"{ca} (mTLS) needs {cert} and {key}")
        return self

    @property
    def default_model(self) -> str:
        return self.models[0]


class AuditSettings(ComponentSettings):
    """The audit log: a write-ahead spool on local disk, written to the database in batches."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_AUDIT_")

    spool_dir: Path | None = None
    """Root of the audit log's write-ahead spools, shared by every gateway instance (EFS on
    ECS, a named volume in compose). Each instance writes its own subfolder, named by
    `instance_id`, under a lease; a gateway drains the subfolders of instances that are
    gone. Unset: `<state_dir>/audit-spool`."""

    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    """This gateway's spool subfolder. Unset: `<hostname>-<8 random hex>`, new at each start
    (the previous start's folder is drained as an orphan once its lease has expired)."""

    lease_ttl_s: float = Field(default=30.0, gt=0.0)
    """A spool subfolder whose lease was not renewed for this long belongs to a gateway
    that is gone: another gateway claims it and drains it into the database."""

    recovery_interval_s: float = Field(default=5.0, gt=0.0)
    """How often a gateway renews its lease and looks for orphaned spool subfolders."""

    close_timeout_s: float = Field(default=10.0, ge=0.0)
    """On stop, how long the audit log may take to flush its spool into the database (what
    is left stays in the spool, drained by the next owner)."""

    spool_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """Bound on audit bytes spooled but not yet in the database; beyond it the gateway is
    NOT_SERVING and rejects requests with UNAVAILABLE."""

    spool_resume_ratio: float = Field(default=0.8, gt=0.0, le=1.0)
    """After the spool was full, accept again once it drains below this share of the bound."""

    segment_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    """Spool segment size: a segment is deleted once all its records are in the database."""

    batch_records: int = Field(default=500, gt=0)
    """Most audit records inserted in one database statement."""

    write_interval_s: float = Field(default=0.2, ge=0.0)
    """How long spooled records may gather before a database write (0: write at once).
    Batching keeps the database and checkpoint fsyncs off the disk the request path fsyncs."""

    retry_initial_s: float = Field(default=0.2, gt=0.0)
    """First wait before retrying a failed database write (doubles up to the maximum)."""

    retry_max_s: float = Field(default=5.0, gt=0.0)
    """Longest wait between database write retries."""

    store_text: bool = True
    """Store request texts in audit records; False keeps only their SHA-256 hashes."""

    @model_validator(mode="after")
    def _renewed_in_time(self) -> AuditSettings:
        # Acknowledgements stop half a ttl after the last renewal (the lease's fencing).
        if self.recovery_interval_s * 3 > self.lease_ttl_s:
            raise ValueError(
                f"{self.variable_as_set('recovery_interval_s')} must be at most a third of "
                f"{self.variable_as_set('lease_ttl_s')}"
            )
        return self

    def resolved_spool_dir(self) -> Path:
        """The spool root (instances write subfolders of it)."""
        return self.spool_dir or self.state_dir / "audit-spool"

    def resolved_instance_id(self) -> str:
        return self.instance_id or f"{socket.gethostname()}-{secrets.token_hex(4)}"


class ApiKeySettings(ComponentSettings):
    """How API keys are hashed, and how the gateway keeps its in-memory key table current
    (see `gateway.persistence.keys`)."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_API_KEY_")

    # Before the key table, the interval was a per-key cache's time to live.
    renamed = (Renamed("SENTIMENT_API_KEY_CACHE_TTL_S", ("refresh_interval_s",)),)

    pepper: SecretStr | None = None
    """Server-side secret mixed into API key hashes (HMAC key). Changing it invalidates all
    keys. Unset: keys are hashed with their per-key salt only."""

    refresh_interval_s: float = Field(default=5.0, ge=0.0)
    """How often the gateway reloads its key table from the database: the longest a key
    revoked by another process (`sentiment keys revoke`) keeps working. The table is never
    reloaded more than once a second, whatever asks (0: once a second)."""

    stale_ttl_s: float = Field(default=600.0, ge=0.0)
    """While the database is unreachable, the key table is trusted until it is this many
    seconds old, counted from the last load the database answered (for a table read from
    the snapshot at start, the load the snapshot was written after); older, every call gets
    UNAVAILABLE. It bounds how long a revocation made during an outage goes unseen."""

    snapshot_file: Path | None = None
    """Local copy of the key table (ids, names, salts, hashes, revocations: no secret; mode
    0600), rewritten after each reload that changed the table and at least once a minute.
    A gateway that starts while the database is unreachable authenticates from it. Unset:
    `<state_dir>/api-keys.snapshot.json`."""

    def pepper_bytes(self) -> bytes:
        return self.pepper.get_secret_value().encode() if self.pepper else b""

    def resolved_snapshot_file(self) -> Path:
        return self.snapshot_file or self.state_dir / "api-keys.snapshot.json"


DRIFT_CLOSE_SECONDS = 5.0
"""On stop, how long queued drift samples may take to reach the database."""


def stop_budget_seconds(gateway: GatewaySettings, audit: AuditSettings) -> float:
    """Longest a graceful stop takes: drain in-flight calls, store queued drift samples,
    flush the audit spool. A supervisor's stop timeout (ECS `stopTimeout`, compose's
    `stop_grace_period`) must exceed it, or SIGKILL cuts the flush short."""
    return gateway.drain_seconds + DRIFT_CLOSE_SECONDS + audit.close_timeout_s
