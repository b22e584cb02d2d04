"""What the callers were told against what the audit table holds.

- sent: call attempts made; acknowledged: attempts answered with an audit id;
- audited: acknowledged attempts whose record is stored under that audit id with the
  outcome the caller saw (status, and for a success its prediction's label);
- lost: acknowledged minus audited;
- duplicated: records beyond one per attempt: for each request id, rows stored beyond the
  attempts sent with it, or rows that repeat one attempt (same request id, method, status
  and received_at) under different audit ids, whichever is larger.

Scenarios tag their request ids with a prefix of their own, so one database could hold
several; each scenario still gets a database of its own.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from store import AuditRow, make_engine
from tests.chaos.traffic import Outcome


@dataclass
class Tally:
    sent: int
    acknowledged: int
    audited: int
    lost: int
    duplicated: int
    rows: int
    """Records stored under the scenario's request ids (unacknowledged attempts included)."""
    lost_ids: list[str] = field(default_factory=list)
    """Audit ids of the acknowledged attempts that have no matching record."""
    mismatched: list[str] = field(default_factory=list)
    """Audit ids whose record is stored with another outcome than the caller saw."""


def stored_rows(database_url: str, prefix: str, audit_ids: Sequence[str] = ()) -> list[Any]:
    """Records whose request id starts with `prefix` or whose audit id is in `audit_ids`."""
    columns = (
        AuditRow.audit_id,
        AuditRow.request_id,
        AuditRow.method,
        AuditRow.status,
        AuditRow.received_at,
        AuditRow.predictions,
    )
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = {
                row.audit_id: row
                for row in connection.execute(
                    select(*columns).where(AuditRow.request_id.like(f"{prefix}%"))
                )
            }
            missing = [a for a in audit_ids if a not in found]
            for start in range(0, len(missing), 1000):
                chunk = missing[start : start + 1000]
                query = select(*columns).where(AuditRow.audit_id.in_(chunk))
                found.update((row.audit_id, row) for row in connection.execute(query))
            return list(found.values())
    finally:
        engine.dispose()


def _matches(row: Any, outcome: Outcome) -> bool:
    if row.status != outcome.code:
        return False
    if outcome.code != "OK":
        return True
    return bool(row.predictions) and row.predictions[0].get("label") == outcome.label


def count(database_url: str, outcomes: Sequence[Outcome], prefix: str) -> Tally:
    """The tally of `outcomes` (request ids starting with `prefix`) against the database."""
    acknowledged = [o for o in outcomes if o.acknowledged]
    rows = stored_rows(database_url, prefix, [str(o.audit_id) for o in acknowledged])
    by_audit_id = {row.audit_id: row for row in rows}
    lost_ids, mismatched = [], []
    for outcome in acknowledged:
        row = by_audit_id.get(outcome.audit_id)
        if row is None:
            lost_ids.append(str(outcome.audit_id))
        elif not _matches(row, outcome):
            mismatched.append(str(outcome.audit_id))
    attempts = Counter(o.request_id for o in outcomes)
    # A record counts for the request id its caller sent, even if stored under another.
    sent_as = {o.audit_id: o.request_id for o in acknowledged}
    per_request: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        per_request[sent_as.get(row.audit_id, row.request_id)].append(row)
    duplicated = 0
    for request_id, stored in per_request.items():
        beyond_attempts = len(stored) - attempts.get(request_id, 0)
        same_attempt = Counter((r.method, r.status, r.received_at) for r in stored)
        repeats = sum(n - 1 for n in same_attempt.values())
        duplicated += max(beyond_attempts, repeats, 0)
    lost = len(lost_ids) + len(mismatched)
    return Tally(
        sent=len(outcomes),
        acknowledged=len(acknowledged),
        audited=len(acknowledged) - lost,
        lost=lost,
        duplicated=duplicated,
        rows=len(rows),
        lost_ids=lost_ids,
        mismatched=mismatched,
    )


def settle(
    database_url: str,
    outcomes: Sequence[Outcome],
    prefix: str,
    timeout: float,
    lost_allowed: int = 0,
) -> tuple[Tally, float]:
    """Count until at most `lost_allowed` acknowledged records are missing, or `timeout`
    seconds passed; the last tally and the seconds it took. Connection errors (the database
    still starting) count as not settled yet."""
    started = time.monotonic()
    tally: Tally | None = None
    while True:
        try:
            tally = count(database_url, outcomes, prefix)
        except Exception:
            if time.monotonic() - started > timeout:
                raise
        if tally is not None and tally.lost <= lost_allowed:
            break
        if time.monotonic() - started > timeout:
            break
        time.sleep(0.5)
    assert tally is not None
    return tally, time.monotonic() - started
