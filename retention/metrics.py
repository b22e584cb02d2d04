"""What is kept, read at scrape time: items, bytes and the oldest item's age per kind, and
when retention last ran (`sentiment_retention_*`, served by the drift job's exporter).

Row counts come from PostgreSQL's statistics (`pg_class.reltuples`) where it has them, so
a scrape stays cheap at hundreds of millions of rows; the oldest row is found through the
index on the table's time column.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text

from contract.layout import is_remote
from retention.reports import list_reports
from retention.tables import AGED_TABLES
from retention.versions import folder_size, repository_versions
from store.engine import as_utc
from store.models import RetentionRunRow

log = logging.getLogger(__name__)


class RetentionCollector(Collector):
    """The retention gauges of one deployment (its database, reports and repository)."""

    def __init__(self, engine: Engine, report_dir: Path, repository: str) -> None:
        self.engine = engine
        self.report_dir = report_dir
        self.repository = repository

    def collect(self) -> Iterator[Any]:
        now = datetime.now(UTC)
        items = GaugeMetricFamily(
            "sentiment_retention_items", "Items kept (files, rows, model versions)", labels=["kind"]
        )
        size = GaugeMetricFamily(
            "sentiment_retention_bytes", "Bytes kept (where measurable)", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "sentiment_retention_oldest_age_seconds", "Age of the oldest item", labels=["kind"]
        )
        last = GaugeMetricFamily(
            "sentiment_retention_last_success_timestamp_seconds",
            "When `sentiment retention apply` last finished (0: never)",
        )
        reports = list_reports(self.report_dir)
        items.add_metric(["drift_reports"], len(reports))
        size.add_metric(["drift_reports"], sum(report.size for report in reports))
        if reports:
            oldest.add_metric(["drift_reports"], (now - reports[-1].stamp).total_seconds())
        if not is_remote(self.repository):
            versions = repository_versions(Path(self.repository))
            items.add_metric(["model_versions"], len(versions))
            used = sum(folder_size(f) for folders in versions.values() for f in folders)
            size.add_metric(["model_versions"], used)
        try:
            self._tables(now, items, size, oldest, last)
        except Exception as error:  # a scrape reports what it can; the database may be down
            log.warning("retention gauges without the database: %s", error)
        yield from (items, size, oldest, last)

    def _tables(
        self,
        now: datetime,
        items: GaugeMetricFamily,
        size: GaugeMetricFamily,
        oldest: GaugeMetricFamily,
        last: GaugeMetricFamily,
    ) -> None:
        postgres = self.engine.dialect.name == "postgresql"
        with self.engine.connect() as connection:
            for kind, (table, column) in AGED_TABLES.items():
                rows = None
                if postgres:
                    estimate = connection.execute(
                        text("SELECT reltuples FROM pg_class WHERE relname = :name"),
                        {"name": table.name},
                    ).scalar()
                    rows = int(estimate) if estimate is not None and estimate >= 0 else None
                    used = connection.execute(
                        select(func.pg_total_relation_size(table.name))
                    ).scalar_one()
                    size.add_metric([kind], float(used))
                if rows is None:
                    count = select(func.count()).select_from(table)
                    rows = int(connection.execute(count).scalar_one())
                items.add_metric([kind], rows)
                first = connection.execute(select(func.min(table.c[column]))).scalar()
                if first is not None:
                    oldest.add_metric([kind], (now - as_utc(first)).total_seconds())
            finished = connection.execute(select(func.max(RetentionRunRow.finished_at))).scalar()
        last.add_metric([], as_utc(finished).timestamp() if finished else 0.0)
