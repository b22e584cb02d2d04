"""Rollout state in the database (SQLite and PostgreSQL): one active at a time, ended once,
every transition recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from store import rollouts
from store.migrate import upgrade_database


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    upgrade_database(engine)
    with engine.begin() as connection:  # the session's PostgreSQL is shared
        connection.execute(text("DELETE FROM rollout_events"))
        connection.execute(text("DELETE FROM rollouts"))
    return engine


def test_one_rollout_is_active_at_a_time_and_ends_once(migrated: Engine) -> None:
    assert rollouts.latest(migrated) is None
    first = rollouts.start(migrated, 1, 2, rollouts.CANARY, 30.0, "ana")
    assert first.state == rollouts.ACTIVE and first.final_version == 1
    with pytest.raises(rollouts.RolloutConflict):
        rollouts.start(migrated, 1, 3, rollouts.SHADOW, 0.0, "bo")
    promoted = rollouts.end(migrated, first.id, rollouts.PROMOTED, "ana", "promote", "looks good")
    assert promoted is not None and promoted.final_version == 2 and promoted.ended_by == "ana"
    # Ending it again (the guardrail, another operator) changes nothing.
    assert rollouts.end(migrated, first.id, rollouts.ROLLED_BACK, "x", "rollback", "late") is None
    assert rollouts.latest(migrated) == promoted
    second = rollouts.start(migrated, 2, 3, rollouts.SHADOW, 50.0, "bo")
    assert second.canary_percent == 0.0  # a shadow rollout answers nothing with the candidate
    assert rollouts.latest(migrated) == second
    events = [
        (e.action, e.actor, e.from_version, e.to_version)
        for e in rollouts.events(migrated, first.id)
    ]
    assert events == [("start", "ana", 1, 2), ("promote", "ana", 1, 2)]


def test_a_rollback_leaves_the_served_version(migrated: Engine) -> None:
    started = rollouts.start(migrated, 4, 5, rollouts.CANARY, 10.0, "ana")
    ended = rollouts.end(migrated, started.id, rollouts.ROLLED_BACK, "ana", "rollback", "no")
    assert ended is not None and ended.final_version == 4
    assert [(e.from_version, e.to_version) for e in rollouts.events(migrated, started.id)][-1] == (
        5,
        4,
    )
    with pytest.raises(ValueError):
        rollouts.end(migrated, started.id, rollouts.ACTIVE, "ana", "x", "y")
