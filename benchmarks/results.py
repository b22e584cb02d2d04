"""What one bench run measured, and the issue's targets checked against it.

`Results` holds every run of every round under a key `path@concurrency` (for example
`triton@16`), plus what could not be measured and why (`notes`), accuracy, the
perf_analyzer summary, the machine and optional GPU results. It round-trips through JSON
so the report can be rebuilt without measuring again.

Targets compare paths round by round (the runs of one round share the box's noise) and
take the median of the per-round figures.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.load import LoadStats

INPROCESS = "in-process"
INPROCESS_BATCH = "in-process-batch32"
TRITON = "triton"
GATEWAY = "gateway"
INT8 = "int8"
LONG_INPROCESS = "long-in-process"
LONG_TRITON = "long-triton"

TRITON_CONCURRENCY = (1, 4, 16, 64)
GATEWAY_CONCURRENCY = (1, 16)
INT8_CONCURRENCY = (1, 16)


def key(path: str, concurrency: int = 1) -> str:
    return f"{path}@{concurrency}"


@dataclass
class Results:
    """Everything one `make bench` run produced."""

    rounds: int
    texts_per_run: int
    runs: dict[str, list[LoadStats]] = field(default_factory=dict)
    """`path@concurrency` -> that run's stats in each round, in round order."""
    notes: dict[str, str] = field(default_factory=dict)
    """Path -> why it was not measured (not published, refused by the server, ...)."""
    accuracy: dict[str, float] = field(default_factory=dict)
    """Triton model -> share of SST-2 dev labels it predicts."""
    accuracy_texts: int = 0
    long_tokens: dict[str, float] = field(default_factory=dict)
    """min / mean / max tokens of the long reviews."""
    gateway_inside: dict[str, list[float]] = field(default_factory=dict)
    """`call_ms@c` / `triton_ms@c` -> per round, the mean whole call and Triton call of the
    gateway run at concurrency c, from the gateway's own histograms."""
    perf: dict[str, Any] = field(default_factory=dict)
    """perf_analyzer: `rows` (one dict per concurrency), `command`, `note`."""
    machine: dict[str, str] = field(default_factory=dict)
    command: str = ""
    quick: bool = False
    gpu: dict[str, Any] | None = None
    """The JSON that scripts/gpu_bench.py wrote, when given."""

    def add(self, run: str, stats: LoadStats) -> None:
        self.runs.setdefault(run, []).append(stats)

    def median(self, run: str, measure: Callable[[LoadStats], float | None]) -> float | None:
        values = [v for v in (measure(s) for s in self.runs.get(run, [])) if v is not None]
        return statistics.median(values) if values else None

    def per_round(
        self, first: str, second: str, combine: Callable[[LoadStats, LoadStats], float]
    ) -> list[float]:
        """combine(first's run, second's run) of each round that measured both."""
        pairs = zip(self.runs.get(first, []), self.runs.get(second, []), strict=False)
        return [combine(a, b) for a, b in pairs]

    def paired(
        self, first: str, second: str, combine: Callable[[LoadStats, LoadStats], float]
    ) -> float | None:
        """Median over rounds of combine(first's run, second's run) in the same round."""
        values = self.per_round(first, second, combine)
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "texts_per_run": self.texts_per_run,
            "runs": {k: [s.as_dict() for s in v] for k, v in self.runs.items()},
            "notes": self.notes,
            "accuracy": self.accuracy,
            "accuracy_texts": self.accuracy_texts,
            "long_tokens": self.long_tokens,
            "gateway_inside": self.gateway_inside,
            "perf": self.perf,
            "machine": self.machine,
            "command": self.command,
            "quick": self.quick,
            "gpu": self.gpu,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        results = cls(rounds=int(data["rounds"]), texts_per_run=int(data["texts_per_run"]))
        results.runs = {
            k: [LoadStats.from_dict(s) for s in v] for k, v in data.get("runs", {}).items()
        }
        for name in ("notes", "accuracy", "long_tokens", "gateway_inside", "perf", "machine"):
            setattr(results, name, dict(data.get(name) or {}))
        results.accuracy_texts = int(data.get("accuracy_texts", 0))
        results.command = str(data.get("command", ""))
        results.quick = bool(data.get("quick", False))
        results.gpu = data.get("gpu")
        return results

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


@dataclass(frozen=True)
class Target:
    """One target of issue 12, checked."""

    name: str
    measured: float | None
    """The figure compared (ms added, or a throughput ratio); None: not measured."""
    limit: float
    unit: str
    """`+ms` (at most `limit` ms added), `ms` (at most `limit` ms) or `x` (at least `limit`
    times)."""
    detail: str
    """Both sides of the comparison, as measured."""
    rounds: tuple[float, ...] = ()
    """The compared figure in each round (`measured` is their median)."""

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.limit if self.unit == "x" else self.measured <= self.limit

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]

    def measured_text(self) -> str:
        if self.measured is None:
            return "not measured"
        if self.unit == "x":
            return f"{self.measured:.2f}x"
        return f"{self.measured:+.2f} ms" if self.unit == "+ms" else f"{self.measured:.2f} ms"

    def limit_text(self) -> str:
        if self.unit == "x":
            return f">= {self.limit:g}x"
        return f"<= +{self.limit:g} ms" if self.unit == "+ms" else f"<= {self.limit:g} ms"

    def rounds_text(self) -> str:
        if self.unit == "x":
            return ", ".join(f"{v:.2f}" for v in self.rounds)
        return ", ".join(f"{v:+.1f}" if self.unit == "+ms" else f"{v:.2f}" for v in self.rounds)

    def line(self) -> str:
        return f"{self.verdict} {self.name}: {self.measured_text()} (target {self.limit_text()})"


def _p50_added(a: LoadStats, b: LoadStats) -> float:
    return a.p50 - b.p50


def _throughput_ratio(a: LoadStats, b: LoadStats) -> float:
    return a.texts_per_s / b.texts_per_s if b.texts_per_s else 0.0


def _sides(results: Results, first: str, second: str, measure: str) -> str:
    def value(run: str) -> str:
        if measure == "p50":
            number = results.median(run, lambda s: s.p50)
            return "-" if number is None else f"{number:.2f} ms p50"
        number = results.median(run, lambda s: s.texts_per_s)
        return "-" if number is None else f"{number:.1f} texts/s"

    return f"{first} {value(first)} vs {second} {value(second)}"


def targets(results: Results) -> list[Target]:
    """The issue's six targets, each from paired per-round figures."""
    checks = [
        ("Triton c=1 p50 vs in-process p50", key(TRITON, 1), key(INPROCESS), "p50", 2.0),
        ("Triton c=16 vs in-process one at a time", key(TRITON, 16), key(INPROCESS), "x", 0.85),
        ("gateway c=1 p50 vs Triton c=1 p50", key(GATEWAY, 1), key(TRITON, 1), "p50", 1.5),
        ("gateway c=16 vs Triton c=16", key(GATEWAY, 16), key(TRITON, 16), "x", 0.9),
        ("~400-token reviews, Triton c=1 p50 vs in-process", key(LONG_TRITON), key(LONG_INPROCESS),
         "p50", 3.0),
    ]  # fmt: skip
    found = []
    for name, first, second, kind, limit in checks:
        combine = _p50_added if kind == "p50" else _throughput_ratio
        values = results.per_round(first, second, combine)
        found.append(
            Target(
                name,
                statistics.median(values) if values else None,
                limit,
                "+ms" if kind == "p50" else "x",
                _sides(results, first, second, "p50" if kind == "p50" else "rps"),
                tuple(values),
            )
        )
    cpu_rounds = [s.cpu_ms_per_call for s in results.runs.get(key(GATEWAY, 16), [])]
    cpu = results.median(key(GATEWAY, 16), lambda s: s.cpu_ms_per_call)
    found.append(
        Target(
            "gateway CPU per call (c=16)",
            cpu,
            1.0,
            "ms",
            "-" if cpu is None else f"{cpu:.2f} ms of user+system CPU per Predict",
            tuple(v for v in cpu_rounds if v is not None),
        )
    )
    return found
