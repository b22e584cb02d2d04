"""Load generation and its statistics: one text per call, a fixed number of callers.

`run_concurrent` drives an async call with `concurrency` workers that share one queue of
texts (closed loop: a worker sends its next text when its last answer came back);
`run_sequential` times a plain function one text at a time. Both return `LoadStats`.
`cpu_seconds` reads a process's user + system time from /proc (the gateway's own cost).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

AsyncCall = Callable[[str], Awaitable[object]]
SyncCall = Callable[[str], object]

PERCENTILES: tuple[int, ...] = (50, 75, 90, 95, 99)
"""Latency percentiles kept per run (the plots draw them)."""


@dataclass(frozen=True)
class LoadStats:
    """One run: its latency percentiles (ms), throughput and optional process CPU."""

    texts: int
    """Texts sent (one per call, except the batched in-process run)."""
    wall_s: float
    """Seconds from the first send to the last answer."""
    latency_ms: dict[str, float]
    """Percentile name (`p50`, `p99`, ...) -> milliseconds per call."""
    cpu_ms_per_call: float | None = None
    """User + system CPU of the measured process per call, when one was watched."""

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def p50(self) -> float:
        return self.latency_ms["p50"]

    @property
    def p99(self) -> float:
        return self.latency_ms["p99"]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "texts_per_s": self.texts_per_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadStats:
        return cls(
            texts=int(data["texts"]),
            wall_s=float(data["wall_s"]),
            latency_ms={k: float(v) for k, v in data["latency_ms"].items()},
            cpu_ms_per_call=data.get("cpu_ms_per_call"),
        )


def summarize(latencies_s: Sequence[float], texts: int, wall_s: float) -> LoadStats:
    """LoadStats from per-call latencies in seconds."""
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    values = np.percentile(ms, PERCENTILES) if len(ms) else np.zeros(len(PERCENTILES))
    latency = {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}
    return LoadStats(texts=texts, wall_s=wall_s, latency_ms=latency)


async def run_concurrent(
    call: AsyncCall, texts: Sequence[str], concurrency: int, pid: int | None = None
) -> LoadStats:
    """Send every text once through `call` from `concurrency` workers.

    With `pid`, the process's CPU time over the run is divided by the number of calls.
    """
    latencies: list[float] = []
    pending = list(reversed(texts))

    async def worker() -> None:
        while pending:
            text = pending.pop()
            started = time.perf_counter()
            await call(text)
            latencies.append(time.perf_counter() - started)

    cpu_before = cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    wall = time.perf_counter() - started
    stats = summarize(latencies, len(latencies), wall)
    if pid:
        cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000.0 / max(1, len(latencies))
        stats = LoadStats(stats.texts, stats.wall_s, stats.latency_ms, cpu_ms)
    return stats


def run_sequential(call: SyncCall, texts: Sequence[str]) -> LoadStats:
    """Call `call` on each text in turn (the in-process baseline)."""
    latencies = []
    started = time.perf_counter()
    for text in texts:
        begun = time.perf_counter()
        call(text)
        latencies.append(time.perf_counter() - begun)
    return summarize(latencies, len(texts), time.perf_counter() - started)


def run_batched(
    call: Callable[[Sequence[str]], object], texts: Sequence[str], size: int
) -> LoadStats:
    """Call `call` on consecutive chunks of `size` texts; latency is per chunk."""
    latencies = []
    started = time.perf_counter()
    for start in range(0, len(texts), size):
        begun = time.perf_counter()
        call(texts[start : start + size])
        latencies.append(time.perf_counter() - begun)
    return summarize(latencies, len(texts), time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
