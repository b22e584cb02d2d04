"""`sentiment drift`: compare a window of sampled traffic with the training reference.

`add_commands(subparsers)` adds the subcommand to the `sentiment` parser. Once: one window,
the summary printed (`--json` for machines). `--every 5m`: a run every interval over the
last `--since` of traffic, with the gauges served for Prometheus, until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_commands(subparsers: Any) -> None:
    """Add `drift` to an argparse subparsers object (handler in `handler`)."""
    drift = subparsers.add_parser(
        "drift", help="data and prediction drift of sampled traffic vs the training reference"
    )
    drift.add_argument(
        "--since",
        default="1h",
        help="window start: ISO timestamp (naive = UTC) or a duration back from now (15m, 2h)",
    )
    drift.add_argument("--until", default="now", help="window end: timestamp, duration or now")
    drift.add_argument(
        "--every", help="run on this interval (5m) over the last --since, serving the gauges"
    )
    drift.add_argument(
        "--min-samples", type=int, help="fewest samples for a verdict (SENTIMENT_DRIFT_MIN_SAMPLES)"
    )
    drift.add_argument(
        "--reference-run", help="MLflow run id of the reference (default: the serving model's)"
    )
    drift.add_argument("--no-mlflow", dest="mlflow", action="store_false", help="skip MLflow")
    drift.add_argument("--json", action="store_true", help="print the summary as JSON")
    drift.set_defaults(handler=run_drift)


def run_drift(args: argparse.Namespace, pipeline_settings: Any = None) -> int:
    """0 when every run finished (drift or not); 1 when a run failed; 2 on bad arguments."""
    from config.settings import PipelineSettings
    from monitoring.job import DriftJob
    from monitoring.schedule import run_every
    from monitoring.settings import DriftSettings
    from monitoring.window import Window, parse_duration
    from retention.settings import RetentionSettings
    from store import make_engine, upgrade_database
    from store.settings import DatabaseSettings

    try:
        overrides = {"min_samples": args.min_samples} if args.min_samples else {}
        settings = DriftSettings(**overrides)
        interval = parse_duration(args.every) if args.every else None
        if interval is not None:
            parse_duration(args.since)  # a schedule needs a moving window
            if args.until != "now":
                raise ValueError("--every moves the window: leave --until at now")
        Window.parse(args.since, args.until)
    except ValueError as error:
        print(f"sentiment drift: {error}", file=sys.stderr)
        return 2
    pipeline = pipeline_settings or PipelineSettings()
    uri = pipeline.tracking_uri()
    local = uri == PipelineSettings(state_dir=pipeline.state_dir).tracking_uri()
    engine = make_engine(DatabaseSettings().resolved_url())
    upgrade_database(engine)  # drift_results exists even before a gateway ever ran
    job = DriftJob(
        engine,
        settings,
        tracking_uri=uri,
        artifact_root=pipeline.artifact_root() if local else None,
        reference_run_id=args.reference_run,
        log_to_mlflow=args.mlflow,
    )
    try:
        if interval is None:
            return _once(job, Window.parse(args.since, args.until), args.json)
        return run_every(
            job,
            settings,
            interval.total_seconds(),
            args.since,
            lambda summary: _print(summary, args.json),
            RetentionSettings(),
            pipeline.repository_path(),
        )
    finally:
        engine.dispose()


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str), flush=True)
        return
    window = summary["window"]
    verdict = {True: "DRIFT", False: "no drift", None: "no verdict"}[summary["dataset_drift"]]
    print(f"{window['since']} .. {window['until']}: {summary['samples']} samples, {verdict}")
    print(f"  {summary['reason']}")
    for name, feature in summary["features"].items():
        mark = "drifted" if feature["drifted"] else "ok"
        print(f"  {name:<20} {feature['method']:<16} {feature['score']:.4g}  {mark}")
    if summary["report"]:
        print(f"  report: {summary['report']['html']}", flush=True)


def _once(job: Any, window: Any, as_json: bool) -> int:
    _print(job.run(window), as_json)
    return 0
