"""`sentiment rollout status`: the rollout and how each version did, from the database.

Calls per version come from the audit records written since the rollout started (each
names the version that answered it, or for a failed call the version it was routed to);
refusals before routing (bad keys, invalid texts) name no version and do not count, nor
do texts the model refused (INVALID_ARGUMENT: the caller's fault, whatever the version).
Shadow figures come from the candidate's rows in `shadow_predictions`. Latency
percentiles are over the newest `LATENCY_SAMPLE` answered calls of each version.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from store import rollouts
from store.engine import as_utc
from store.models import AuditRow, ShadowRow

LATENCY_SAMPLE = 10_000
CALLER_FAULT = ("INVALID_ARGUMENT",)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank `q` percentile (0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100.0 * len(ordered)) - 1, 0)]


def _version_stats(
    session: Session, version: int, since: datetime, until: datetime
) -> dict[str, Any]:
    window = (
        AuditRow.model_version == str(version),
        AuditRow.received_at >= since,
        AuditRow.received_at <= until,
        AuditRow.status.not_in(CALLER_FAULT),
    )
    counts = dict(
        session.execute(
            select(AuditRow.status == "OK", func.count())
            .where(*window)
            .group_by(AuditRow.status == "OK")
        ).all()
    )
    ok, failed = int(counts.get(True, 0)), int(counts.get(False, 0))
    latencies = list(
        session.scalars(
            select(AuditRow.latency_ms)
            .where(*window, AuditRow.status == "OK")
            .order_by(AuditRow.received_at.desc())
            .limit(LATENCY_SAMPLE)
        )
    )
    calls = ok + failed
    return {
        "version": version,
        "calls": calls,
        "errors": failed,
        "error_rate": failed / calls if calls else None,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
    }


def _shadow_stats(session: Session, rollout_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(ShadowRow.agree, func.count())
        .where(ShadowRow.rollout_id == rollout_id)
        .group_by(ShadowRow.agree)
    ).all()
    counts = {agree: int(n) for agree, n in rows}
    agree, disagree, errors = counts.get(True, 0), counts.get(False, 0), counts.get(None, 0)
    latencies = list(
        session.scalars(
            select(ShadowRow.latency_ms)
            .where(ShadowRow.rollout_id == rollout_id, ShadowRow.agree.is_not(None))
            .order_by(ShadowRow.created_at.desc())
            .limit(LATENCY_SAMPLE)
        )
    )
    compared = agree + disagree
    return {
        "shadow_calls": agree + disagree + errors,
        "agree": agree,
        "disagree": disagree,
        "errors": errors,
        "error_rate": errors / (compared + errors) if compared + errors else None,
        "agreement_rate": agree / compared if compared else None,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
    }


def status(engine: Engine) -> dict[str, Any]:
    """The latest rollout (active or not) with its figures; {"rollout": None} without one."""
    latest = rollouts.latest(engine)
    if latest is None:
        return {"rollout": None}
    since = as_utc(latest.started_at)
    until = as_utc(latest.ended_at) if latest.ended_at else datetime.now(UTC)
    with Session(engine) as session:
        versions = [
            _version_stats(session, v, since, until)
            for v in (latest.served_version, latest.candidate_version)
        ]
        shadow = _shadow_stats(session, latest.id) if latest.mode == rollouts.SHADOW else None
    answered = sum(v["calls"] for v in versions)
    candidate = versions[1]
    result: dict[str, Any] = {
        "rollout": {
            "id": latest.id,
            "state": latest.state,
            "mode": latest.mode,
            "served_version": latest.served_version,
            "candidate_version": latest.candidate_version,
            "canary_percent": latest.canary_percent,
            "started_at": since.isoformat(),
            "started_by": latest.started_by,
            "ended_at": as_utc(latest.ended_at).isoformat() if latest.ended_at else None,
            "ended_by": latest.ended_by,
            "end_reason": latest.end_reason,
        },
        "serving_version": latest.final_version if latest.state != rollouts.ACTIVE else None,
        "calls": answered,
        "candidate_share": candidate["calls"] / answered if answered else None,
        "versions": versions,
        "events": [
            {
                "at": as_utc(e.at).isoformat(),
                "actor": e.actor,
                "action": e.action,
                "from_version": e.from_version,
                "to_version": e.to_version,
                "detail": e.detail,
            }
            for e in rollouts.events(engine, latest.id)
        ],
    }
    if shadow is not None:
        result["shadow"] = shadow
        result["agreement_rate"] = shadow["agreement_rate"]
    return result


def render(report: dict[str, Any]) -> str:
    """`rollout status` as text."""
    rollout = report["rollout"]
    if rollout is None:
        return "no rollout yet: Triton's one loaded version answers every call"
    mode = rollout["mode"]
    if mode == rollouts.CANARY:
        mode = f"canary {rollout['canary_percent']:g}%"
    lines = [
        f"rollout {rollout['id']}: version {rollout['candidate_version']} against "
        f"{rollout['served_version']}, {mode}, {rollout['state']} "
        f"(started {rollout['started_at']} by {rollout['started_by']})"
    ]
    if rollout["ended_at"]:
        lines.append(
            f"  ended {rollout['ended_at']} by {rollout['ended_by']}: {rollout['end_reason']}"
        )
    share = report["candidate_share"]
    lines.append(
        f"  calls {report['calls']}, candidate share {'-' if share is None else f'{share:.1%}'}"
    )
    for v in report["versions"]:
        rate = "-" if v["error_rate"] is None else f"{v['error_rate']:.2%}"
        p50, p99 = (
            "-" if v[k] is None else f"{v[k]:.1f}" for k in ("latency_p50_ms", "latency_p99_ms")
        )
        lines.append(
            f"  version {v['version']}: {v['calls']} calls, error rate {rate}, "
            f"p50 {p50} ms, p99 {p99} ms"
        )
    shadow = report.get("shadow")
    if shadow is not None:
        agreement = shadow["agreement_rate"]
        lines.append(
            f"  shadow: {shadow['shadow_calls']} copies, agreement "
            f"{'-' if agreement is None else f'{agreement:.1%}'}, {shadow['errors']} errors"
        )
    for event in report["events"]:
        lines.append(
            f"  {event['at']} {event['actor']}: {event['action']} "
            f"{event['from_version']} -> {event['to_version']}"
        )
    return "\n".join(lines)
