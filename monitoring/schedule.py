"""`sentiment drift --every`: a drift run every interval, gauges served, until signalled."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from monitoring.exporter import DriftMetrics
from monitoring.job import DriftJob
from monitoring.settings import DriftSettings
from monitoring.window import Window

log = logging.getLogger(__name__)


def run_every(
    job: DriftJob,
    settings: DriftSettings,
    interval_s: float,
    since: str,
    report: Callable[[dict[str, Any]], None],
) -> int:
    """Run `job` over the last `since` every `interval_s` seconds until SIGTERM/SIGINT.

    Each summary goes to `report`. The gauges are served on the drift metrics port while
    the schedule runs; a failed run is logged and counted, and the schedule goes on.
    Returns 1 when any run failed, else 0.
    """
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    job.metrics = DriftMetrics()
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
            except Exception:  # the schedule outlives one bad run; the counter shows it
                log.exception("drift run failed")
                job.metrics.failed()
                failed = True
            stop.wait(interval_s)
    finally:
        job.metrics.stop()
    return 1 if failed else 0
