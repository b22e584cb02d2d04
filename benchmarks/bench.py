"""`make bench`: the served path against in-process, in one run of alternating rounds.

    python -m benchmarks.bench [--quick] [--rounds N] [--texts N] [--gpu-results PATH]
                               [--strict] [--from-json PATH]

Starts Triton (`serving.tritonserver`) on the published model repository
($SENTIMENT_STATE_DIR/model_repository unless --repository) on free ports, and the gateway
as its own process; then measures, with the same SST-2 dev sentences, one text per call:
in-process ONNX Runtime (one at a time; 32 per run), Triton `sentiment` at concurrency
1/4/16/64, gateway Predict at 1/16 (with the gateway's CPU per call), Triton
`sentiment_int8` at 1/16 and its accuracy beside FP32's, ~400-token reviews in-process and
through Triton; then a short perf_analyzer run. Prints the issue-12 targets as PASS/FAIL
lines (exit code 1 on a FAIL only with --strict), writes docs/benchmarks.md, its plots in
docs/benchmarks/, and the raw results as JSON ($SENTIMENT_STATE_DIR/bench/results.json).
`--from-json` rebuilds the report from such a file without measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from benchmarks.results import Results, targets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = ROOT / "docs" / "benchmarks.md"
DEFAULT_PLOTS = ROOT / "docs" / "benchmarks"
QUICK = {"rounds": 2, "texts": 40, "long_texts": 4, "accuracy_texts": 120}
DEFAULT = {"rounds": 5, "texts": 300, "long_texts": 24, "accuracy_texts": 0}
"""accuracy_texts 0: all 872 SST-2 dev sentences."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--repository", type=Path, help="model repository (default: published)")
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    parser.add_argument("--rounds", type=int, help=f"alternating rounds ({DEFAULT['rounds']})")
    parser.add_argument("--texts", type=int, help=f"texts per run ({DEFAULT['texts']})")
    parser.add_argument("--long-texts", type=int, help="~400-token reviews per round")
    parser.add_argument("--accuracy-texts", type=int, help="dev sentences for accuracy (0: all)")
    parser.add_argument("--no-perf", action="store_true", help="skip the perf_analyzer run")
    parser.add_argument("--gpu-results", type=Path, help="JSON written by scripts/gpu_bench.py")
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT, help="markdown report")
    parser.add_argument("--plots", type=Path, default=DEFAULT_PLOTS, help="folder for PNGs")
    parser.add_argument("--json", type=Path, help="raw results (default: state dir)")
    parser.add_argument("--from-json", type=Path, help="rebuild the report, measure nothing")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULT
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def load_gpu_results(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "markdown" not in data:
        raise ValueError(f"{path} is not a scripts/gpu_bench.py result (no 'markdown')")
    return data


def measure(args: argparse.Namespace, repository: Path, command: str) -> Results:
    """Start the services, run every round, the accuracy check and perf_analyzer."""
    from benchmarks.inprocess import InProcessModel
    from benchmarks.machine import describe
    from benchmarks.perf_summary import run_perf_analyzer
    from benchmarks.rounds import FP32_MODEL, INT8_MODEL, Plan, Rounds, progress
    from benchmarks.services import Services
    from benchmarks.texts import labelled_dev, long_reviews, sentences
    from config.settings import PipelineSettings

    settings = PipelineSettings()
    model = InProcessModel.from_repository(repository)
    texts = sentences(settings.data, args.texts)
    all_texts, all_labels = labelled_dev(settings.data)
    size = args.accuracy_texts or len(all_texts)
    dev_texts, dev_labels = all_texts[:size], all_labels[:size]
    long_texts = long_reviews(all_texts, model.count_tokens, args.long_texts)
    plan = Plan(texts, long_texts, dev_texts, dev_labels, model.pipeline.labels, args.rounds)
    results = Results(rounds=args.rounds, texts_per_run=len(texts), command=command)
    results.quick = bool(args.quick)
    lengths = [model.count_tokens(t) for t in long_texts]
    results.long_tokens = {
        "min": min(lengths), "max": max(lengths), "mean": sum(lengths) / len(lengths)
    }  # fmt: skip
    progress(f"starting Triton and the gateway on {repository}")
    with Services(repository, [FP32_MODEL, INT8_MODEL]) as services:
        version = asyncio.run(Rounds(plan, services, model, results).run())
        if args.no_perf:
            results.perf = {"rows": [], "command": "", "note": "skipped (--no-perf)"}
        else:
            progress("perf_analyzer on Triton `sentiment`")
            results.perf = run_perf_analyzer(services.triton_grpc_url, dev_texts, args.quick)
    results.machine = describe(version)
    return results


def main(argv: list[str] | None = None) -> int:
    from config.settings import PipelineSettings

    args = parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(given))}" if given else "")
    settings = PipelineSettings()
    try:
        gpu = load_gpu_results(args.gpu_results)
        if args.from_json:
            results = Results.from_json(json.loads(args.from_json.read_text()))
        else:
            from benchmarks.inprocess import RepositoryError

            repository = args.repository or Path(settings.repository_path())
            try:
                results = measure(args, repository, command)
            except RepositoryError as error:
                print(f"make bench: {error}", file=sys.stderr)
                return 2
            results.write(args.json or settings.state_dir / "bench" / "results.json")
    except (OSError, ValueError) as error:
        print(f"make bench: {error}", file=sys.stderr)
        return 2
    if gpu is not None:
        results.gpu = gpu
    from benchmarks.report import render, write_report

    written = write_report(results, args.output, args.plots)
    checks = targets(results)
    for check in checks:
        print(check.line())
    print()
    print(render(results).split("## Notes:")[0].rstrip())
    print("\nwrote " + ", ".join(str(p) for p in written))
    failed = [c for c in checks if c.passed is False]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
