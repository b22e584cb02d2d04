"""Fixtures of the benchmark tests: a small made-up results object for the report."""

from __future__ import annotations

import pytest

from benchmarks.load import LoadStats
from benchmarks.results import (
    GATEWAY,
    GATEWAY_CONCURRENCY,
    INPROCESS,
    INPROCESS_BATCH,
    INT8,
    INT8_CONCURRENCY,
    LONG_INPROCESS,
    LONG_TRITON,
    TRITON,
    TRITON_CONCURRENCY,
    Results,
    key,
)


def stats(p50: float, texts_per_s: float, cpu: float | None = None) -> LoadStats:
    """A run of 100 texts with the given median latency and throughput."""
    latency = {"p50": p50, "p75": p50 * 1.2, "p90": p50 * 1.5, "p95": p50 * 1.8, "p99": p50 * 2}
    return LoadStats(texts=100, wall_s=100 / texts_per_s, latency_ms=latency, cpu_ms_per_call=cpu)


@pytest.fixture
def results() -> Results:
    """Two rounds of every path, numbers chosen so each target's verdict is known:
    Triton c=1 adds 1.5 ms (PASS), Triton c=16 is 0.80x in-process (FAIL), the gateway adds
    1.0 ms (PASS) and keeps 0.95x (PASS) at 0.8 ms CPU per call (PASS); Triton refused the
    long reviews (SKIP); INT8 is 1.5x as fast."""
    made = Results(rounds=2, texts_per_run=100, command="make bench BENCH_ARGS=--quick")
    for _ in range(2):
        made.add(key(INPROCESS), stats(4.0, 200.0))
        made.add(key(INPROCESS_BATCH), stats(150.0, 210.0))
        for concurrency in TRITON_CONCURRENCY:
            made.add(key(TRITON, concurrency), stats(5.5 * concurrency, 160.0))
        for concurrency in GATEWAY_CONCURRENCY:
            made.add(key(GATEWAY, concurrency), stats(5.5 * concurrency + 1.0, 152.0, cpu=0.8))
        for concurrency in INT8_CONCURRENCY:
            made.add(key(INT8, concurrency), stats(4.0 * concurrency, 240.0))
        made.add(key(LONG_INPROCESS), stats(30.0, 33.0))
    made.notes[LONG_TRITON] = "INVALID_ARGUMENT: 420 tokens are over the limit of 128"
    made.gateway_inside = {"call_ms@1": [6.4, 6.6], "triton_ms@1": [5.4, 5.6]}
    made.accuracy = {"sentiment": 0.85, "sentiment_int8": 0.84}
    made.accuracy_texts = 872
    made.long_tokens = {"min": 390, "max": 430, "mean": 405}
    made.perf = {
        "rows": [{"concurrency": 1, "texts_per_s": 150.0, "p50_ms": 6.0, "p99_ms": 9.0}],
        "command": "perf_analyzer -m sentiment",
        "note": "",
    }
    made.machine = {"CPU": "test CPU", "cores": "2"}
    made.quick = True
    return made
