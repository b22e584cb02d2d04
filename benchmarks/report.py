"""docs/benchmarks.md from a `Results`: ratios and targets first, then the tables.

`render(results)` returns the markdown; `write_report(results, markdown_path, plot_dir)`
writes it and the plots (`benchmarks.plots`), linking them relative to the markdown file.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from pathlib import Path

from benchmarks.load import LoadStats
from benchmarks.plots import write_plots
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
    targets,
)

FP32_MODEL = "sentiment"
INT8_MODEL = "sentiment_int8"

PERF_ANALYZER_NOTES = """\
## Notes: which perf_analyzer, and why

- The maintained `perf-analyzer` package on the index (2.58 to 2.60) ships only
  `manylinux_2_38` wheels: pip on this Debian 12 box (glibc 2.36) skips them and finds
  only the 0.1.0 placeholder. Forced in (`pip download --platform manylinux_2_38_x86_64`),
  its binary stops at start: `GLIBC_2.38` and `GLIBCXX_3.4.32` not found.
- So the bench keeps perf_analyzer from the manylinux wheel of `tritonclient==2.51.0`
  (`serving/perf.py` finds it; it needs Debian's `libb64-0d` and `libcudart.so.12` from
  `nvidia-cuda-runtime-cu12`, both installed by `make setup`). On a system with glibc
  2.38 or newer (Ubuntu 24.04, for one) the maintained package should install; that was
  not tried from here.
- perf_analyzer runs once, after the alternating rounds, in three windows of a fixed
  request count with no stability bound (the shared box never meets its default 10 %):
  its numbers are a cross-check of the asyncio clients, not the figures the targets use.
"""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


class _Medians:
    """Median helpers over one results object."""

    def __init__(self, results: Results) -> None:
        self.results = results

    def get(self, run: str, measure: Callable[[LoadStats], float | None]) -> float | None:
        return self.results.median(run, measure)

    def rate(self, run: str) -> str:
        return _rate(self.get(run, lambda s: s.texts_per_s))

    def pct(self, run: str, percentile: str) -> str:
        return _ms(self.get(run, lambda s: s.latency_ms.get(percentile)))


def _targets_section(results: Results) -> list[str]:
    checks = targets(results)
    lines = ["## Targets (issue 12)", ""]
    lines += _table(
        ["target", "measured", "goal", "verdict", "per round", "each side (medians)"],
        [
            [t.name, t.measured_text(), t.limit_text(), t.verdict, t.rounds_text(), t.detail]
            for t in checks
        ],
    )
    int8_speed = results.paired(key(INT8, 16), key(TRITON, 16), _throughput)
    int8_p50 = results.paired(key(INT8, 1), key(TRITON, 1), lambda a, b: a.p50 / b.p50)
    rows = [
        ["INT8 / FP32 throughput, Triton c=16", _ratio(int8_speed)],
        ["INT8 / FP32 p50, Triton c=1", _ratio(int8_p50)],
    ]
    for model in (FP32_MODEL, INT8_MODEL):
        accuracy = results.accuracy.get(model)
        text = "-" if accuracy is None else f"{accuracy:.4f}"
        rows.append([f"SST-2 dev accuracy, Triton `{model}`", text])
    lines += ["Other ratios:", "", *_table(["measure", "value"], rows)]
    return lines


def _throughput(a: LoadStats, b: LoadStats) -> float:
    return a.texts_per_s / b.texts_per_s if b.texts_per_s else 0.0


def _path_sections(results: Results) -> list[str]:
    m = _Medians(results)
    lines = ["## In-process ONNX Runtime (`sentiment_onnx`, the repository's tokenizer)", ""]
    lines += _table(
        ["run", "texts/s", "p50 ms", "p99 ms"],
        [
            ["one text at a time, unpadded", m.rate(key(INPROCESS)),
             m.pct(key(INPROCESS), "p50"), m.pct(key(INPROCESS), "p99")],
            ["32 texts per run, padded to the longest (latency per run)",
             m.rate(key(INPROCESS_BATCH)), m.pct(key(INPROCESS_BATCH), "p50"),
             m.pct(key(INPROCESS_BATCH), "p99")],
        ],
    )  # fmt: skip
    lines += ["## Triton `sentiment` (text in; tritonclient.grpc.aio, one text per call)", ""]
    lines += _table(
        ["concurrency", "texts/s", "p50 ms", "p90 ms", "p99 ms"],
        [
            [str(c), m.rate(key(TRITON, c)),
             *(m.pct(key(TRITON, c), p) for p in ("p50", "p90", "p99"))]
            for c in TRITON_CONCURRENCY
        ],
    )  # fmt: skip
    lines += ["## Gateway Predict (its own process, SQLite audit, drift sampling 0.1)", ""]
    lines += _table(
        ["concurrency", "texts/s", "p50 ms", "p99 ms", "gateway CPU ms/call", "vs Triton"],
        [
            [str(c), m.rate(key(GATEWAY, c)), m.pct(key(GATEWAY, c), "p50"),
             m.pct(key(GATEWAY, c), "p99"),
             _ms(m.get(key(GATEWAY, c), lambda s: s.cpu_ms_per_call)),
             _ratio(results.paired(key(GATEWAY, c), key(TRITON, c), _throughput))]
            for c in GATEWAY_CONCURRENCY
        ],
    )  # fmt: skip
    inside = {
        name: statistics.median(values) for name, values in results.gateway_inside.items() if values
    }
    for concurrency in GATEWAY_CONCURRENCY:
        call, triton = inside.get(f"call_ms@{concurrency}"), inside.get(f"triton_ms@{concurrency}")
        if call is not None and triton is not None:
            lines += [
                f"Inside the gateway at concurrency {concurrency} (its own histograms): a call "
                f"takes {call:.2f} ms on average, of which the Triton call {triton:.2f} ms.",
                "",
            ]
    lines += ["## INT8 (`sentiment_int8`) against FP32 (`sentiment`), both through Triton", ""]
    if INT8 in results.notes:
        lines += [f"`sentiment_int8`: {results.notes[INT8]}.", ""]
    rows = []
    for model, path in ((FP32_MODEL, TRITON), (INT8_MODEL, INT8)):
        accuracy = results.accuracy.get(model)
        rows.append(
            [f"`{model}`"]
            + [m.pct(key(path, c), "p50") for c in INT8_CONCURRENCY]
            + [m.rate(key(path, c)) for c in INT8_CONCURRENCY]
            + ["-" if accuracy is None else f"{accuracy:.4f}"]
        )
    header = ["model", *(f"c={c} p50 ms" for c in INT8_CONCURRENCY)]
    header += [*(f"c={c} texts/s" for c in INT8_CONCURRENCY)]
    header += [f"SST-2 dev accuracy ({results.accuracy_texts} sentences)"]
    lines += _table(header, rows)
    lines += _long_section(results, m)
    return lines


def _long_section(results: Results, m: _Medians) -> list[str]:
    tokens = results.long_tokens
    size = (
        f"{tokens['min']:.0f} to {tokens['max']:.0f} tokens, mean {tokens['mean']:.0f}"
        if tokens
        else "not built"
    )
    lines = [f"## Long reviews (SST-2 dev sentences joined: {size})", ""]
    if LONG_TRITON in results.notes:
        lines += [f"Triton refused them: {results.notes[LONG_TRITON]}", ""]
    lines += _table(
        ["path", "texts/s", "p50 ms", "p99 ms"],
        [
            [label, m.rate(key(run)), m.pct(key(run), "p50"), m.pct(key(run), "p99")]
            for run, label in (
                (LONG_INPROCESS, "in-process, one at a time"),
                (LONG_TRITON, "Triton `sentiment`, concurrency 1"),
            )
        ],
    )
    return lines


def _perf_section(results: Results) -> list[str]:
    perf = results.perf
    lines = ["## perf_analyzer (Triton `sentiment`, SST-2 dev sentences)", ""]
    if perf.get("rows"):
        lines += _table(
            ["concurrency", "texts/s", "p50 ms", "p90 ms", "p99 ms", "server queue ms",
             "server compute ms"],
            [
                [f"{row['concurrency']:.0f}", _rate(row.get("texts_per_s")),
                 *(_ms(row.get(f)) for f in ("p50_ms", "p90_ms", "p99_ms", "queue_ms",
                                             "compute_ms"))]
                for row in perf["rows"]
            ],
        )  # fmt: skip
    if perf.get("note"):
        lines += [f"Not measured: {perf['note']}", ""]
    if perf.get("command"):
        lines += ["    " + perf["command"], ""]
    return lines


def _gpu_section(results: Results) -> list[str]:
    lines = ["## GPU (scripts/gpu_bench.py)", ""]
    gpu = results.gpu
    if not gpu:
        return [
            *lines,
            "No GPU results in this run: run `make gpu-bench` on a machine with an NVIDIA GPU",
            "and pass its JSON with `make bench BENCH_ARGS=--gpu-results=PATH`.",
            "",
        ]
    return [*lines, str(gpu.get("markdown", "")).strip(), ""]


def render(results: Results, plot_dir: Path | None = None, base: Path | None = None) -> str:
    """The whole report; plots are linked when `plot_dir` is given (relative to `base`)."""
    lines = ["# Benchmarks: the served path against in-process", ""]
    lines += [
        f"Written by `{results.command or 'make bench'}`: one run of {results.rounds} rounds that",
        "alternate the paths (in-process, Triton, gateway, INT8, long reviews), each run sending",
        f"the same {results.texts_per_run} SST-2 dev sentences, one text per call. Every figure is",
        "the median over the rounds. A target compares the paths round by round: its figure is",
        "the median of the per-round figures, which can differ from the difference of the",
        "medians when rounds differ (a shared box).",
        "",
    ]
    if results.quick:
        lines += [
            "**Provisional: a `--quick` smoke run** (few texts, two rounds); its numbers are",
            "noise-level and only show that the bench works. Regenerate with `make bench`.",
            "",
        ]
    lines += _targets_section(results)
    lines += _path_sections(results)
    lines += _perf_section(results)
    lines += _gpu_section(results)
    if plot_dir is not None:
        start = base or plot_dir.parent
        lines += ["## Plots", ""]
        for name, title in (("throughput.png", "Throughput"), ("latency.png", "Latency")):
            relative = os.path.relpath(plot_dir / name, start)
            lines += [f"![{title}]({relative})", ""]
    lines += [*PERF_ANALYZER_NOTES.splitlines(), ""]
    lines += ["## Machine", ""]
    lines += _table(["", ""], [[name, value] for name, value in results.machine.items()])
    lines += ["## Command", ""]
    lines += ["    make bench                      # default settings, ~5-8 minutes"]
    lines += ["    make bench BENCH_ARGS=--quick   # ~1 minute smoke run", ""]
    if results.command:
        lines += ["This report: `" + results.command + "`", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(results: Results, markdown: Path, plot_dir: Path) -> list[Path]:
    """Write the markdown and the plots; returns every path written."""
    plots = write_plots(results, plot_dir)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render(results, plot_dir, markdown.parent))
    return [markdown, *plots]
