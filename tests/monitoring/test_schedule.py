"""`sentiment drift --every`: runs on its interval, serves its gauges (the retention ones
too), keeps the report folder within the retention policy, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from tests.commands import SENTIMENT, command_environment
from tests.gateway.conftest import free_port
from tests.retention.test_reports import write_report


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def runs_counted(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("sentiment_drift_runs_total") and 'outcome="insufficient"' in line:
            return float(line.split()[-1])
    return 0.0


def test_schedule_runs_repeatedly_serves_gauges_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    reports = tmp_path / "drift-reports"
    expired = [write_report(reports, timedelta(days=days)) for days in (40, 41)]
    (reports / "keep-me.txt").write_text("not a report")
    environment = command_environment(tmp_path, SENTIMENT_DRIFT_METRICS_PORT=str(port))
    process = subprocess.Popen(
        [SENTIMENT, "drift", "--every", "1s", "--since", "1h", "--no-mlflow"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while runs_counted(scrape(port)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.5)
        scraped = scrape(port)
        assert runs_counted(scraped) >= 2
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.count("samples, no verdict") >= 2, out
    assert not any(stamp in path.name for path in reports.iterdir() for stamp in expired)
    assert (reports / "keep-me.txt").is_file()
    assert 'sentiment_retention_items{kind="drift_reports"} 0.0' in scraped
    assert "sentiment_retention_last_success_timestamp_seconds 0.0" in scraped  # never ran
    assert scrape(port) == ""  # the exporter stopped with the schedule
