"""Helpers shared by the persistence tests (imported by module name from this folder)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, text

from gateway.core.contracts import AuditRecord, Prediction

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one test's async body in a fresh event loop."""
    return asyncio.run(coroutine)


def make_record(request_id: str, texts: list[str] | None = None) -> AuditRecord:
    texts = ["a fine film"] if texts is None else texts
    received = datetime.now(UTC)
    prediction = Prediction(
        label="positive",
        score=0.9,
        probabilities={"negative": 0.1, "positive": 0.9},
        model_name="sentiment",
        model_version="3",
        mlflow_run_id="run-1",
    )
    return AuditRecord(
        audit_id=f"audit-{request_id}",
        request_id=request_id,
        method="Predict",
        key_id="0123456789ab",
        received_at=received,
        completed_at=received + timedelta(milliseconds=4),
        status="OK",
        error=None,
        texts=texts,
        text_sha256=["0" * 64 for _ in texts],
        predictions=[prediction for _ in texts],
    )


def audit_counts(engine: Engine) -> dict[str, int]:
    """request id -> number of rows with it (a primary key makes >1 impossible; checked)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT request_id, COUNT(*) FROM audit_records GROUP BY request_id")
        )
        return {request_id: count for request_id, count in rows}
