"""Audit records as spool payloads (JSON bytes) and as rows of the `audit_records` table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.core.contracts import AuditRecord, Prediction
from store.engine import as_utc
from store.models import AuditRow

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def prediction_json(p: Prediction) -> dict[str, Any]:
    return {
        "label": p.label,
        "score": p.score,
        "probabilities": p.probabilities,
        "model_name": p.model_name,
        "model_version": p.model_version,
        "mlflow_run_id": p.mlflow_run_id,
        "truncated": p.truncated,
    }


def encode_record(record: AuditRecord) -> bytes:
    """Compact JSON of `record`; datetimes as ISO 8601 strings.

    Built field by field: `dataclasses.asdict` deep-copies every value and was a visible
    share of the request path's CPU.
    """
    payload = {
        "audit_id": record.audit_id,
        "request_id": record.request_id,
        "method": record.method,
        "key_id": record.key_id,
        "received_at": record.received_at.isoformat(),
        "completed_at": record.completed_at.isoformat(),
        "status": record.status,
        "error": record.error,
        "texts": record.texts,
        "text_sha256": record.text_sha256,
        "predictions": [prediction_json(p) for p in record.predictions],
        "peer": record.peer,
        "request_bytes": record.request_bytes,
        "model_version": record.model_version,
    }
    return _ENCODER.encode(payload).encode("utf-8", "surrogatepass")


def decode_record(payload: bytes) -> AuditRecord:
    data = json.loads(payload.decode("utf-8", "surrogatepass"))
    # A spool written before audit ids replays with its request id as the audit id, as
    # migration 0004 did for stored rows: the same record always gets the same key.
    data.setdefault("audit_id", data["request_id"])
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    data["completed_at"] = datetime.fromisoformat(data["completed_at"])
    data["predictions"] = [Prediction(**p) for p in data["predictions"]]
    return AuditRecord(**data)


def to_row(record: AuditRecord) -> dict[str, Any]:
    """Column values for `audit_records` (the model of the first prediction, if any)."""
    first = record.predictions[0] if record.predictions else None
    return {
        "audit_id": record.audit_id,
        "request_id": record.request_id,
        "method": record.method,
        "key_id": record.key_id,
        "received_at": as_utc(record.received_at),
        "completed_at": as_utc(record.completed_at),
        "latency_ms": record.latency_ms,
        "status": record.status,
        "error": record.error,
        "texts": record.texts,
        "text_sha256": record.text_sha256,
        "predictions": [prediction_json(p) for p in record.predictions],
        "model_name": first.model_name if first else None,
        "model_version": first.model_version if first else record.model_version,
        "peer": record.peer,
        "request_bytes": record.request_bytes,
    }


def row_to_json(row: AuditRow) -> dict[str, Any]:
    """What `sentiment audit` prints for one stored record."""
    return {
        "audit_id": row.audit_id,
        "request_id": row.request_id,
        "method": row.method,
        "key_id": row.key_id,
        "received_at": as_utc(row.received_at).isoformat(),
        "completed_at": as_utc(row.completed_at).isoformat(),
        "latency_ms": row.latency_ms,
        "status": row.status,
        "error": row.error,
        "texts": row.texts,
        "text_sha256": row.text_sha256,
        "predictions": row.predictions,
        "model_name": row.model_name,
        "model_version": row.model_version,
        "peer": row.peer,
        "request_bytes": row.request_bytes,
        "stored_at": as_utc(row.stored_at).isoformat(),
    }
