"""`sentiment drift --every`: a drift run every interval, gauges served, until signalled."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitoring.exporter import DriftMetrics
from monitoring.job import DriftJob
from monitoring.settings import DriftSettings
from monitoring.window import Window
from retention.metrics import RetentionCollector
from retention.policy import prune_drift_reports
from retention.settings import RetentionSettings

log = logging.getLogger(__name__)


def run_every(
    job: DriftJob,
    settings: DriftSettings,
    interval_s: float,
    since: str,
    report: Callable[[dict[str, Any]], None],
    retention: RetentionSettings,
    repository: str,
) -> int:
    """Run `job` over the last `since` every `interval_s` seconds until SIGTERM/SIGINT.

    Each summary goes to `report`; after each run the drift reports the retention policy
    expires are removed, so the report folder stays bounded between retention runs. The
    gauges (the job's and the retention gauges of `repository` and the database) are
    served on the drift metrics port while the schedule runs; a failed run is logged and
    counted, and the schedule goes on. Returns 1 when any run failed, else 0.
    """
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    job.metrics = DriftMetrics()
    report_dir = settings.resolved_report_dir()
    job.metrics.registry.register(RetentionCollector(job.engine, report_dir, repository))
    port = job.metrics.serve(settings.metrics_host, settings.metrics_port)
    host = settings.metrics_host
    log.info("drift gauges on %s:%d/metrics, a run every %ss", host, port, interval_s)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    failed = False
    try:
        while not stop.is_set():
            try:
                report(job.run(Window.parse(since)))
                keep_reports_bounded(job, report_dir, retention)
            except Exception:  # the schedule outlives one bad run; the counter shows it
                log.exception("drift run failed")
                job.metrics.failed()
                failed = True
            stop.wait(interval_s)
    finally:
        job.metrics.stop()
    return 1 if failed else 0


def keep_reports_bounded(job: DriftJob, report_dir: Path, retention: RetentionSettings) -> None:
    """Apply the drift reports' retention to the folder and to the job's MLflow runs."""
    tracking_uri = job.tracking_uri if job.log_to_mlflow else None
    prune_drift_reports(retention, report_dir, tracking_uri, job.settings.experiment)
