"""The rollout state and shadow answers on the database (`store.rollouts`, `store.models`).

`SqlRolloutStore` reads the rollout state each replica routes by and lets the guardrail
end a rollout (the gateway's database role may set a rollout's end columns and add its
event, nothing else). `SqlShadowSink` writes the candidate's answers to shadowed calls,
queued and batched off the request path like drift samples.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine

from gateway.core.contracts import CANARY, NONE, SHADOW, RolloutState, ShadowRecord
from gateway.persistence.audit.records import prediction_json
from gateway.persistence.batched import BatchedWriter
from store import rollouts
from store.engine import as_utc
from store.models import ShadowRow

GUARDRAIL_ACTOR = "gateway-guardrail"


def state_of(rollout: rollouts.Rollout | None) -> RolloutState:
    """What a gateway routes by, from the latest rollout row (None: there never was one)."""
    if rollout is None:
        return RolloutState()
    if rollout.state != rollouts.ACTIVE:
        return RolloutState(served=rollout.final_version)
    mode = rollout.mode if rollout.mode in (CANARY, SHADOW) else NONE
    return RolloutState(
        rollout_id=rollout.id,
        served=rollout.served_version,
        candidate=rollout.candidate_version,
        mode=mode,
        canary_percent=rollout.canary_percent,
    )


class SqlRolloutStore:
    """`RolloutStore` on the `rollouts` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def current(self) -> RolloutState:
        return state_of(await asyncio.to_thread(rollouts.latest, self.engine))

    async def end_by_guardrail(self, rollout_id: int, reason: str) -> bool:
        ended = await asyncio.to_thread(
            rollouts.end,
            self.engine,
            rollout_id,
            rollouts.ROLLED_BACK,
            GUARDRAIL_ACTOR,
            "guardrail_rollback",
            reason,
        )
        return ended is not None


class SqlShadowSink(BatchedWriter[ShadowRecord]):
    """`ShadowSink` on the `shadow_predictions` table (see BatchedWriter: queued, batched,
    held behind a circuit breaker while the database is away), idempotent on the
    record's own id."""

    TABLE = ShadowRow.__table__
    KEYS = ("shadow_id",)
    WHAT = "shadow predictions"

    def row(self, record: ShadowRecord) -> dict[str, Any]:
        return {
            "shadow_id": record.shadow_id,
            "audit_id": record.audit_id,
            "rollout_id": record.rollout_id,
            "created_at": as_utc(record.created_at),
            "model_name": record.model_name,
            "served_version": record.served_version,
            "model_version": record.model_version,
            "status": record.status,
            "error": record.error,
            "predictions": [prediction_json(p) for p in record.predictions],
            "agree": record.agree,
            "latency_ms": record.latency_ms,
        }
