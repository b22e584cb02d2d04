"""A short perf_analyzer run against Triton's `sentiment`, summarized from its CSV report.

perf_analyzer is the one `serving.perf` finds (the C++ binary of the tritonclient 2.51
manylinux wheel: the maintained `perf-analyzer` package on the index needs glibc 2.38,
docs/benchmarks.md). It gets the same SST-2 dev sentences, one text per request, at
concurrency 1 and 16, in windows of a fixed request count with no stability bound
(three windows, averaged): the shared 2-core box is too noisy for perf_analyzer's default
10 % stability, which fails the run instead of measuring it.
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = {
    "Concurrency": "concurrency",
    "Inferences/Second": "texts_per_s",
    "p50 latency": "p50_ms",
    "p90 latency": "p90_ms",
    "p99 latency": "p99_ms",
    "Server Queue": "queue_ms",
    "Server Compute Infer": "compute_ms",
}
"""CSV column -> summary field; latencies are microseconds in the CSV, ms here."""


def perf_options(quick: bool) -> list[str]:
    return [
        "--concurrency-range=1:16:15",
        "--measurement-mode=count_windows",
        f"--measurement-request-count={50 if quick else 200}",
        "--stability-percentage=1000",
        "--max-trials=3",
    ]


def parse_csv(text: str) -> list[dict[str, float]]:
    """The summary rows of perf_analyzer's `-f` CSV (one per concurrency)."""
    rows = []
    for record in csv.DictReader(text.splitlines()):
        row: dict[str, float] = {}
        for column, name in COLUMNS.items():
            value = record.get(column)
            if value in (None, ""):
                continue
            number = float(value)
            row[name] = number if name in ("concurrency", "texts_per_s") else number / 1000.0
        if "concurrency" in row:
            rows.append(row)
    return rows


def run_perf_analyzer(
    url: str, texts: Sequence[str], quick: bool, model: str = "sentiment", timeout: float = 240
) -> dict[str, Any]:
    """{'rows': [...], 'command': str, 'note': str}; a failure is a note, not an error."""
    from serving.perf import (
        PerfAnalyzerError,
        perf_command,
        perf_environment,
        write_input_data,
    )

    with tempfile.TemporaryDirectory(prefix="sentiment-perf-") as folder:
        data = write_input_data(texts, Path(folder) / "input.json")
        report = Path(folder) / "report.csv"
        options = [*perf_options(quick), "-f", str(report)]
        try:
            command = perf_command(data, url, model, "grpc", options)
            environment = perf_environment()
        except PerfAnalyzerError as error:
            return {"rows": [], "command": "", "note": f"perf_analyzer not run: {error}"}
        shown = " ".join(["perf_analyzer", *command[1:]]).replace(folder, "$TMP")
        try:
            result = subprocess.run(
                command, env=environment, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"rows": [], "command": shown, "note": f"perf_analyzer ran over {timeout:.0f} s"}
        if result.returncode != 0 or not report.is_file():
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            note = f"perf_analyzer exited {result.returncode}: {' | '.join(tail)}"
            return {"rows": [], "command": shown, "note": note}
        return {"rows": parse_csv(report.read_text()), "command": shown, "note": ""}
