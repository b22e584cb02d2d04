"""make bench's report: the targets' verdicts, the markdown and the plots from a results
object (made-up numbers: nothing here is timed)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import render, write_report
from benchmarks.results import Results, targets

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_targets_compare_the_paths_round_by_round(results: Results) -> None:
    verdicts = {t.name: t.verdict for t in targets(results)}
    assert verdicts == {
        "Triton c=1 p50 vs in-process p50": "PASS",
        "Triton c=16 vs in-process one at a time": "FAIL",
        "gateway c=1 p50 vs Triton c=1 p50": "PASS",
        "gateway c=16 vs Triton c=16": "PASS",
        "~400-token reviews, Triton c=1 p50 vs in-process": "SKIP",
        "gateway CPU per call (c=16)": "PASS",
    }
    lines = [t.line() for t in targets(results)]
    assert "PASS Triton c=1 p50 vs in-process p50: +1.50 ms (target <= +2 ms)" in lines
    assert "FAIL Triton c=16 vs in-process one at a time: 0.80x (target >= 0.85x)" in lines


def test_report_puts_the_targets_first_then_every_table(results: Results, tmp_path: Path) -> None:
    results.gpu = {"markdown": "**TorchScript fp16**\n\n| seq len | b=1 |\n| --- | --- |\n"}
    markdown_path = tmp_path / "docs" / "benchmarks.md"
    written = write_report(results, markdown_path, tmp_path / "docs" / "benchmarks")
    text = markdown_path.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Targets (issue 12)"
    for part in ("In-process", "Triton `sentiment`", "Gateway", "INT8", "Long reviews",
                 "perf_analyzer", "GPU", "Plots", "Machine"):  # fmt: skip
        assert any(part in heading for heading in headings), part
    assert "Provisional" in text
    assert "INVALID_ARGUMENT: 420 tokens" in text
    assert "1.50x" in text  # INT8 / FP32 throughput
    assert "a call takes 6.50 ms on average, of which the Triton call 5.50 ms" in text
    assert "| +1.5, +1.5 |" in text  # Triton c=1's added p50 in each round
    assert "**TorchScript fp16**" in text
    assert "![Throughput](benchmarks/throughput.png)" in text
    for plot in written[1:]:
        data = plot.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) < 100_000


def test_results_round_trip_through_json(results: Results, tmp_path: Path) -> None:
    path = results.write(tmp_path / "results.json")
    again = Results.from_json(json.loads(path.read_text()))
    assert render(again) == render(results)


def test_missing_int8_is_reported_not_published(results: Results) -> None:
    results.runs = {k: v for k, v in results.runs.items() if not k.startswith("int8@")}
    results.notes["int8"] = "not published"
    results.accuracy.pop("sentiment_int8")
    text = render(results)
    assert "`sentiment_int8`: not published." in text
