"""The time window a drift run looks at, and the drift samples the gateway stored in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, select

from contract.features import FEATURES
from store.engine import as_utc
from store.models import DriftRow

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

SAMPLE_COLUMNS = ("sampled_at", *FEATURES, "label", "confidence", "model_version", "mlflow_run_id")
"""The columns of a window's samples: the contract's drift features and the prediction."""


def parse_duration(value: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1d`, `1w` -> timedelta; ValueError otherwise."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise ValueError(f"not a duration (like 30s, 15m, 2h, 1d): {value!r}")
    amount = float(match.group(1))
    if amount <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: amount})


def parse_moment(value: str, now: datetime) -> datetime:
    """A timestamp (ISO 8601; naive means UTC), `now`, or a duration meaning `now - duration`."""
    text = value.strip()
    if text == "now":
        return now
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp, 'now' or a duration like 15m: {value!r}") from None
    return as_utc(moment)


@dataclass(frozen=True)
class Window:
    """Samples with `start <= sampled_at < end` (both UTC)."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, since: str, until: str = "now", now: datetime | None = None) -> Window:
        moment = now or datetime.now(UTC)
        window = cls(parse_moment(since, moment), parse_moment(until, moment))
        if window.start >= window.end:
            raise ValueError(f"empty window: since {window.start} is not before {window.end}")
        return window

    def as_dict(self) -> dict[str, str]:
        return {"since": self.start.isoformat(), "until": self.end.isoformat()}


def load_samples(engine: Engine, window: Window) -> pd.DataFrame:
    """The window's drift samples, one row per text (`confidence` is the predicted label's
    probability, like the reference's)."""
    query = (
        select(
            DriftRow.sampled_at,
            *(getattr(DriftRow, feature) for feature in FEATURES),
            DriftRow.label,
            DriftRow.score.label("confidence"),
            DriftRow.model_version,
            DriftRow.mlflow_run_id,
        )
        .where(DriftRow.sampled_at >= window.start, DriftRow.sampled_at < window.end)
        .order_by(DriftRow.sampled_at)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(SAMPLE_COLUMNS))
