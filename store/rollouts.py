"""Rollout state in the database: the one place every gateway replica reads it from.

`start` opens a rollout (at most one is active: a partial unique index says so), `end`
closes the active one as promoted or rolled back, each with its event row (who, when,
which action, from which version to which). `current` is what a gateway routes by: the
active rollout, or the version the last ended one left serving, or nothing (no rollout
ever: Triton's one loaded version answers).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.engine import as_utc
from store.models import RolloutEventRow, RolloutRow

ACTIVE = "active"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
CANARY = "canary"
SHADOW = "shadow"
MODES = (CANARY, SHADOW)


class RolloutConflict(Exception):
    """A rollout is already active, or none is when one must be."""


@dataclass(frozen=True)
class Rollout:
    """A rollout row as plain values."""

    id: int
    served_version: int
    candidate_version: int
    mode: str
    canary_percent: float
    state: str
    started_at: datetime
    started_by: str
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None

    @property
    def final_version(self) -> int:
        """The version serving every call once this rollout ended (or before it did)."""
        return self.candidate_version if self.state == PROMOTED else self.served_version

    @staticmethod
    def of(row: RolloutRow) -> Rollout:
        return Rollout(
            id=row.id,
            served_version=row.served_version,
            candidate_version=row.candidate_version,
            mode=row.mode,
            canary_percent=row.canary_percent,
            state=row.state,
            started_at=as_utc(row.started_at),
            started_by=row.started_by,
            ended_at=as_utc(row.ended_at) if row.ended_at else None,
            ended_by=row.ended_by,
            end_reason=row.end_reason,
        )


def latest(engine: Engine) -> Rollout | None:
    """The active rollout, else the last one started; None when there never was one."""
    with Session(engine) as session:
        row = session.scalars(
            select(RolloutRow).order_by((RolloutRow.state == ACTIVE).desc(), RolloutRow.id.desc())
        ).first()
        return Rollout.of(row) if row is not None else None


def start(
    engine: Engine,
    served_version: int,
    candidate_version: int,
    mode: str,
    canary_percent: float,
    actor: str,
) -> Rollout:
    """Open a rollout; RolloutConflict when one is active."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    now = datetime.now(UTC)
    row = RolloutRow(
        served_version=served_version,
        candidate_version=candidate_version,
        mode=mode,
        canary_percent=canary_percent if mode == CANARY else 0.0,
        state=ACTIVE,
        started_at=now,
        started_by=actor,
    )
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
            session.flush()
            session.add(
                _event(
                    row.id,
                    now,
                    actor,
                    "start",
                    served_version,
                    candidate_version,
                    f"{mode} {canary_percent:g}%" if mode == CANARY else mode,
                )
            )
            rollout = Rollout.of(row)
    except IntegrityError as err:
        raise RolloutConflict("a rollout is already active: promote or roll it back") from err
    return rollout


def end(
    engine: Engine, rollout_id: int, state: str, actor: str, action: str, reason: str
) -> Rollout | None:
    """End rollout `rollout_id` as `state` (PROMOTED or ROLLED_BACK) if it is still active;
    the ended rollout, or None when it was not active any more (another ended it)."""
    if state not in (PROMOTED, ROLLED_BACK):
        raise ValueError(f"cannot end a rollout as {state!r}")
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        changed = (
            session.connection()
            .execute(
                update(RolloutRow)
                .where(RolloutRow.id == rollout_id, RolloutRow.state == ACTIVE)
                .values(state=state, ended_at=now, ended_by=actor, end_reason=reason)
            )
            .rowcount
        )
        if not changed:
            return None
        row = session.get(RolloutRow, rollout_id, populate_existing=True)
        if row is None:  # deleted meanwhile: nothing ended here
            return None
        ended = Rollout.of(row)
        frm, to = (
            (row.served_version, row.candidate_version)
            if state == PROMOTED
            else (row.candidate_version, row.served_version)
        )
        session.add(_event(rollout_id, now, actor, action, frm, to, reason))
    return ended


def events(engine: Engine, rollout_id: int) -> list[RolloutEventRow]:
    """A rollout's transitions, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(RolloutEventRow)
                .where(RolloutEventRow.rollout_id == rollout_id)
                .order_by(RolloutEventRow.at)
            )
        )


def _event(
    rollout_id: int, at: datetime, actor: str, action: str, frm: int, to: int, detail: str
) -> RolloutEventRow:
    return RolloutEventRow(
        event_id=uuid.uuid4().hex,
        rollout_id=rollout_id,
        at=at,
        actor=actor,
        action=action,
        from_version=frm,
        to_version=to,
        detail=detail,
    )
