"""The seams between the gateway's core service and its persistence.

The core (`gateway.core.service`) depends only on these types. `gateway.persistence`
implements the persistence protocols on SQLAlchemy and `gateway.upstream` implements
`InferenceBackend` on Triton; both import the core, never the other way round. Tests may
substitute real implementations backed by SQLite or PostgreSQL, never mocks of the code
under test.
"""

from __future__ import annotations

import hashlib
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
    """One text's answer, as a text-in model in Triton gave it."""

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


def to_predictions(
    raw: list[RawPrediction],
    info: ModelInfo,
    labels: list[str],
    truncated: list[bool] | None = None,
) -> list[Prediction]:
    """The upstream's answers as predictions of the model that gave them; `truncated`
    says which texts were cut (none, by default)."""
    cut = truncated or [False] * len(raw)
    return [
        Prediction(
            label=p.label,
            score=p.score,
            probabilities=dict(zip(labels, p.probabilities, strict=False)),
            model_name=info.name,
            model_version=info.version,
            mlflow_run_id=info.mlflow_run_id,
            truncated=was_cut,
        )
        for p, was_cut in zip(raw, cut, strict=True)
    ]


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
    model_version: str | None = None
    """The version the call was routed to, when it failed after routing (an answered
    call's predictions name the version that answered)."""

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


NONE, CANARY, SHADOW = "none", "canary", "shadow"
"""Rollout modes (`store.rollouts`; NONE: no rollout is active)."""


@dataclass(frozen=True)
class Route:
    """Where one call goes: the version that answers it ("" = the one Triton loads) and
    the version that gets a shadow copy ("" = none)."""

    version: str
    shadow: str = ""


@dataclass(frozen=True)
class RolloutState:
    """What the database says about serving: no rollout (`mode` NONE; `served` is the
    version the last rollout left serving, or None when there never was one), or an
    active canary or shadow rollout."""

    rollout_id: int | None = None
    served: int | None = None
    candidate: int | None = None
    mode: str = NONE
    canary_percent: float = 0.0

    @property
    def candidate_share(self) -> float:
        """The share of calls (0..1) the candidate answers."""
        return self.canary_percent / 100.0 if self.mode == CANARY else 0.0

    def route(self, request_id: str) -> Route:
        served = "" if self.served is None else str(self.served)
        if self.mode == SHADOW and self.candidate is not None:
            return Route(served, shadow=str(self.candidate))
        candidate = self.mode == CANARY and self.candidate is not None
        if candidate and bucket(request_id) < self.canary_percent:
            return Route(str(self.candidate))
        return Route(served)


def bucket(request_id: str) -> float:
    """A request id's place in [0, 100): the same for every replica and every retry."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


@dataclass(frozen=True)
class ShadowRecord:
    """The candidate's answer to a shadowed call, linked to the call's audit record.
    `shadow_id` is its own key: a retried insert stores it once."""

    shadow_id: str
    audit_id: str
    rollout_id: int
    model_name: str
    served_version: str
    model_version: str
    created_at: datetime
    status: str
    error: str | None
    predictions: list[Prediction]
    agree: bool | None
    latency_ms: float


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
        version: str = "",
    ) -> tuple[list[RawPrediction], ModelInfo]:
        """Classify `texts` before `deadline` (a time.monotonic() value) with model
        `version` ("": the one the server chooses); `truncation`
        (`contract.pipeline.TRUNCATIONS`) asks the model to cut texts over its token limit
        instead of refusing them. The ModelInfo names the version that answered."""
        ...

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        """True when `model` can serve now."""
        ...


class RolloutStore(Protocol):
    """Where the rollout state is kept (`store.rollouts`)."""

    async def current(self) -> RolloutState:
        """The state now; raises when it cannot be read."""
        ...

    async def end_by_guardrail(self, rollout_id: int, reason: str) -> bool:
        """Roll back rollout `rollout_id` if it is still active; whether this call ended it."""
        ...


class ShadowSink(Protocol):
    """Where the candidate's answers to shadowed calls go (insert-only)."""

    async def add(self, records: list[ShadowRecord]) -> None: ...


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
