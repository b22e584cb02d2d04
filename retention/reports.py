"""Drift reports on disk: `drift-<UTC stamp>.html` + `.json` pairs in one folder.

The drift job names each report after the moment it was written, so the names sort by
age. A report (both of its files) goes when it is older than the age limit, beyond the
newest `max_count`, or beyond `max_bytes` counted from the newest; the newest report stays
whatever its size. Files that are not drift reports are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retention.report import KindResult

REPORT_NAME = re.compile(r"^drift-(\d{8}T\d{6}\d*Z)\.(html|json)$")
"""What `monitoring.job` writes: `drift-20261201T101500123456Z.html` and `.json`."""


@dataclass(frozen=True)
class Report:
    """One drift report: its stamp (UTC) and its files."""

    stamp: datetime
    files: tuple[Path, ...]

    @property
    def size(self) -> int:
        return sum(path.stat().st_size for path in self.files if path.exists())


def _stamp(text: str) -> datetime:
    seconds, fraction = text[:15], text[15:-1]
    moment = datetime.strptime(seconds, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int(fraction.ljust(6, "0")[:6]) if fraction else 0)


def list_reports(folder: Path) -> list[Report]:
    """The folder's drift reports, newest first."""
    if not folder.is_dir():
        return []
    grouped: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        match = REPORT_NAME.match(path.name)
        if match and path.is_file():
            grouped.setdefault(match.group(1), []).append(path)
    reports = [Report(_stamp(stamp), tuple(sorted(files))) for stamp, files in grouped.items()]
    return sorted(reports, key=lambda report: report.stamp, reverse=True)


def expired_reports(
    reports: list[Report], max_age_days: int, max_count: int, max_bytes: int, now: datetime
) -> list[Report]:
    """Which of `reports` (newest first) the policy removes: from the first report that is
    too old, beyond the count or over the byte budget, that one and every older one."""
    cutoff = now - timedelta(days=max_age_days) if max_age_days else None
    kept_bytes = 0
    for position, report in enumerate(reports):
        kept_bytes += report.size
        too_old = cutoff is not None and report.stamp < cutoff
        too_big = position > 0 and kept_bytes > max_bytes
        if too_old or position >= max_count or too_big:
            return reports[position:]
    return []


def prune_reports(
    folder: Path,
    max_age_days: int,
    max_count: int,
    max_bytes: int,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> KindResult:
    """Remove (or, in a dry run, count) the drift reports the policy expires."""
    reports = list_reports(folder)
    expired = expired_reports(reports, max_age_days, max_count, max_bytes, now or datetime.now(UTC))
    removed_bytes = sum(report.size for report in expired)
    if not dry_run:
        for report in expired:
            for path in report.files:
                path.unlink(missing_ok=True)
    age = f"older than {max_age_days} days, " if max_age_days else ""
    return KindResult(
        kind="drift_reports",
        removed=len(expired),
        removed_bytes=removed_bytes,
        kept=len(reports) - len(expired),
        limit=f"{age}beyond the newest {max_count} or {max_bytes:,} bytes",
    )
