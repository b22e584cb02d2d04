"""The seams between the gateway's core service and its persistence.

The core (`gateway.core.service`) depends only on these types. `gateway.persistence`
implements the persistence protocols on SQLAlchemy and `gateway.upstream` implements
`InferenceBackend` on Triton; both import the core, never the other way round. Tests may
substitute real implementations backed by SQLite or PostgreSQL, never mocks of the code
under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# A sampled text's drift features are the pipeline contract's (training computes the same).
from contract.features import TextFeatures


@dataclass(frozen=True)
class Caller:
    """An authenticated API key. `key_id` is stored in audit records; the key never is."""

    key_id: str
    name: str


@dataclass(frozen=True)
class Prediction:
    """One text's answer, as Triton's `sentiment` ensemble gave it."""

    label: str
    score: float
    probabilities: dict[str, float]
    model_name: str
    model_version: str
    mlflow_run_id: str
    truncated: bool = False
    """The text was over the model's token limit and cut as the request asked."""


@dataclass(frozen=True)
class ModelInfo:
    """Which model answered: its name, repository version and MLflow run id."""

    name: str
    version: str
    mlflow_run_id: str


@dataclass(frozen=True)
class RawPrediction:
    """One text's answer as the upstream returns it (probabilities in label order)."""

    label: str
    score: float
    probabilities: list[float]


@dataclass(frozen=True)
class AuditRecord:
    """One call attempt and its outcome. `audit_id` is the gateway's and unique: writes are
    idempotent on it. `request_id` is the client's (or one the gateway made): a retried
    call has several records with it, one per attempt."""

    audit_id: str
    request_id: str
    method: str
    """gRPC method name, e.g. `Predict`, `PredictBatch`, `PredictStream`."""
    key_id: str | None
    """None when authentication failed before a key was identified."""
    received_at: datetime
    completed_at: datetime
    status: str
    """gRPC status code name: `OK`, `INVALID_ARGUMENT`, ..."""
    error: str | None
    texts: list[str] | None
    """The texts, or None when the gateway is configured to store hashes only."""
    text_sha256: list[str]
    predictions: list[Prediction] = field(default_factory=list)
    peer: str | None = None
    """The caller's network address (gRPC's `ipv4:host:port` form)."""
    request_bytes: int | None = None
    """Size of the request message: what a refusal before authentication keeps instead of
    the texts."""

    @property
    def latency_ms(self) -> float:
        return (self.completed_at - self.received_at).total_seconds() * 1000.0


@dataclass(frozen=True)
class DriftSample:
    """A sampled prediction with its features, stored in its own table."""

    request_id: str
    index: int
    """Position of the text in its request (0 for Predict)."""
    sampled_at: datetime
    features: TextFeatures
    prediction: Prediction


class KeyRevoked(Exception):
    """A correct key that an operator revoked: the caller is known but no longer allowed."""


class AuditLog(Protocol):
    """Durable audit trail: `append` returns only once the record survives a crash."""

    async def append(self, record: AuditRecord) -> None: ...

    @property
    def accepting(self) -> bool:
        """False while the local spool is full: the service reports NOT_SERVING."""
        ...


class KeyStore(Protocol):
    """API keys, stored hashed."""

    async def authenticate(self, token: str) -> Caller | None:
        """The caller owning `token`; None for an unknown key; KeyRevoked for a revoked one."""
        ...


class InferenceBackend(Protocol):
    """The model server the core sends valid requests to (Triton in `gateway.upstream`)."""

    async def infer(
        self,
        model: str,
        texts: list[str],
        request_id: str,
        deadline: float,
        batch: bool,
        truncation: str | None = None,
    ) -> tuple[list[RawPrediction], ModelInfo]:
        """Classify `texts` before `deadline` (a time.monotonic() value); `truncation`
        (`contract.pipeline.TRUNCATIONS`) asks the model to cut texts over its token limit
        instead of refusing them."""
        ...

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        """True when `model` can serve now."""
        ...


class DriftSink(Protocol):
    """Where sampled predictions go (the drift-samples table)."""

    async def add(self, samples: list[DriftSample]) -> None: ...


class PersistenceUnavailable(Exception):
    """A persistence backend cannot serve now; the core maps it to UNAVAILABLE.

    Raised by the implementations of the protocols above instead of SQLAlchemy or OS errors,
    so the core never sees a backend exception type.
    """


class AuditUnavailable(PersistenceUnavailable):
    """`AuditLog.append` could not make the record durable (spool broken or closed)."""


class AuditSpoolFull(AuditUnavailable):
    """The local audit spool reached its size bound; `accepting` is False until it drains."""


class KeyStoreUnavailable(PersistenceUnavailable):
    """The key database is unreachable and the key is not in the recent-keys cache."""
