"""The report's PNG plots (matplotlib, Agg): throughput against concurrency, latency
percentiles per run. Small on purpose (they are committed next to docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

THROUGHPUT_PNG = "throughput.png"
LATENCY_PNG = "latency.png"
SIZE = (7.0, 4.0)
DPI = 80
SERIES = ((TRITON, TRITON_CONCURRENCY), (GATEWAY, GATEWAY_CONCURRENCY), (INT8, INT8_CONCURRENCY))
LABELS = {TRITON: "Triton sentiment", GATEWAY: "gateway Predict", INT8: "Triton sentiment_int8"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def throughput_plot(results: Results, path: Path) -> Path:
    """Texts/s against concurrency per served path; in-process as horizontal lines."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=SIZE)
    for path_name, levels in SERIES:
        points = [(c, results.median(key(path_name, c), lambda s: s.texts_per_s)) for c in levels]
        shown = [(c, v) for c, v in points if v is not None]
        if shown:
            axes.plot(*zip(*shown, strict=True), marker="o", label=LABELS[path_name])
    for run, style, label in (
        (INPROCESS, "--", "in-process, one text at a time"),
        (INPROCESS_BATCH, ":", "in-process, 32 per run"),
    ):
        value = results.median(key(run), lambda s: s.texts_per_s)
        if value is not None:
            axes.axhline(value, linestyle=style, color="grey", label=label)
    axes.set_xscale("log", base=2)
    axes.set_xticks(list(TRITON_CONCURRENCY), [str(c) for c in TRITON_CONCURRENCY])
    axes.set_xlabel("concurrent callers (one text per call)")
    axes.set_ylabel("texts/s (median over rounds)")
    axes.set_ylim(bottom=0)
    axes.set_title("Throughput against concurrency")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(plt, figure, path)


def latency_runs(results: Results) -> list[tuple[str, str]]:
    """(run key, label) of the runs whose latency the plot shows, in report order."""
    runs = [(key(INPROCESS), "in-process")]
    runs += [(key(TRITON, c), f"Triton c={c}") for c in TRITON_CONCURRENCY]
    runs += [(key(GATEWAY, c), f"gateway c={c}") for c in GATEWAY_CONCURRENCY]
    runs += [(key(INT8, c), f"INT8 c={c}") for c in INT8_CONCURRENCY]
    runs += [(key(LONG_INPROCESS), "long, in-process"), (key(LONG_TRITON), "long, Triton c=1")]
    return [(run, label) for run, label in runs if results.runs.get(run)]


def percentile_median(results: Results, run: str, percentile: str) -> float:
    return results.median(run, lambda stats: stats.latency_ms[percentile]) or 0.0


def latency_plot(results: Results, path: Path) -> Path:
    """p50 / p90 / p99 per run, horizontal bars on a log scale."""
    plt = _pyplot()
    runs = latency_runs(results)
    figure, axes = plt.subplots(figsize=(SIZE[0], max(2.5, 0.35 * len(runs) + 1.2)))
    height = 0.27
    for offset, percentile in enumerate(("p50", "p90", "p99")):
        values = [percentile_median(results, run, percentile) for run, _ in runs]
        positions = [i + (offset - 1) * height for i in range(len(runs))]
        axes.barh(positions, values, height=height, label=percentile)
    axes.set_yticks(range(len(runs)), [label for _, label in runs], fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("ms per call (median over rounds)")
    axes.set_title("Latency percentiles")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(fontsize=8)
    return _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def write_plots(results: Results, folder: Path) -> list[Path]:
    """Both plots into `folder`; returns their paths."""
    return [
        throughput_plot(results, folder / THROUGHPUT_PNG),
        latency_plot(results, folder / LATENCY_PNG),
    ]
