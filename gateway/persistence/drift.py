"""Drift sampling: which requests to keep (`should_sample`) and where (`SqlDriftSink`).

The choice is a pure function of the request id, so a replayed or retried request is
sampled the same way by every gateway replica. The features come from `gateway.core.text`,
which computes them as `training.reference` does (a test holds the two equal), so live
samples compare like for like with the reference statistics saved at training time.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.contracts import DriftSample
from gateway.persistence.batched import BatchedWriter
from store.engine import as_utc
from store.models import DriftRow

_SCALE = float(1 << 64)


def should_sample(request_id: str, rate: float) -> bool:
    """True for a `rate` share of request ids, the same answer for the same id every time."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < rate


def to_row(sample: DriftSample) -> dict[str, Any]:
    prediction, features = sample.prediction, sample.features
    return {
        "request_id": sample.request_id,
        "index": sample.index,
        "sampled_at": as_utc(sample.sampled_at),
        "text_length": features.text_length,
        "token_count": features.token_count,
        "unknown_token_rate": features.unknown_token_rate,
        "non_ascii_share": features.non_ascii_share,
        "label": prediction.label,
        "score": prediction.score,
        "probabilities": prediction.probabilities,
        "model_name": prediction.model_name,
        "model_version": prediction.model_version,
        "mlflow_run_id": prediction.mlflow_run_id,
    }


class SqlDriftSink(BatchedWriter[DriftSample]):
    """`DriftSink` on the `drift_samples` table (see BatchedWriter: drift statistics
    tolerate gaps), idempotent on (request id, index). Create it in the running loop."""

    TABLE = DriftRow.__table__
    KEYS = ("request_id", "index")
    WHAT = "drift samples"

    def row(self, item: DriftSample) -> dict[str, Any]:
        return to_row(item)

    def fetch(self, request_id: str) -> list[DriftRow]:
        """Stored samples of one request, by position."""
        query = select(DriftRow).where(DriftRow.request_id == request_id).order_by(DriftRow.index)
        with Session(self.engine) as session:
            rows = list(session.scalars(query))
            session.expunge_all()
        return rows
