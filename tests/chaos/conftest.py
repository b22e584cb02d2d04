"""Fixtures of the chaos suite (`make chaos`, marker `chaos`): one PostgreSQL cluster of its
own and one real Triton for the session, a `scenario` per test, and the report printed at
the end of the run and written to `CHAOS_REPORT` (default `.state/chaos/report.md`)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.tritonserver import TritonServer
from tests.chaos.harness import OwnPostgres, find_pg_bin
from tests.chaos.scenario import Scenario
from tests.chaos.summary import DEFAULT_REPORT, REPORT_ENV, ChaosReport, ScenarioEntry

# The tiny model exported into a repository and one Triton serving it, as the gateway's
# end-to-end tests use them.
from tests.gateway.conftest import repository, triton  # noqa: F401

REPORT = pytest.StashKey[ChaosReport]()
STARTED = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def chaos_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL cluster of the suite's own, on a free port (removed afterwards)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (Debian: "
            "postgresql-15) or set CHAOS_PG_BIN to their folder"
        )
    postgres = OwnPostgres(bin_dir).init()
    postgres.start()
    yield postgres
    postgres.destroy()


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest,
    chaos_postgres: OwnPostgres,
    triton: TritonServer,  # noqa: F811
    repository: Path,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Scenario]:
    """The test's database, gateways and report entry (titled by its docstring's first
    line, `N. what happens`)."""
    title = (request.function.__doc__ or request.node.name).strip().splitlines()[0]
    entries = request.config.stash[REPORT].entries
    entry = entries.setdefault(request.node.nodeid, ScenarioEntry(title))
    number = title.split(".", 1)[0]
    slug = f"s{number}" if number.isdigit() else re.sub(r"\W", "", request.node.name)[-20:]
    made = Scenario(slug, entry, chaos_postgres, triton, repository, tmp_path)
    try:
        yield made
    finally:
        made.close()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT] = ChaosReport()
    config.stash[STARTED] = time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if item.get_closest_marker("chaos") is None:
        return report
    entries = item.config.stash[REPORT].entries
    entry = entries.setdefault(item.nodeid, ScenarioEntry(_title(item)))
    if report.when != "setup":  # setup includes the session's Triton and PostgreSQL
        entry.seconds += report.duration
    if report.when == "call" or report.outcome != "passed":
        if report.outcome == "passed":
            entry.result = "passed"
        elif report.outcome == "skipped":
            entry.result = "skipped"
            if isinstance(report.longrepr, tuple):
                entry.reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif entry.result != "failed":
            entry.result = "failed" if report.when == "call" else f"error in {report.when}"
            if call.excinfo is not None:
                # The first line says what failed; a gateway's log tail ends with its error.
                lines = [line.strip() for line in call.excinfo.exconly().splitlines()]
                lines = [line for line in lines if line]
                reason = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
                entry.reason = reason[:400]
    return report


def _title(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    return ((function.__doc__ if function else None) or item.name).strip().splitlines()[0]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(REPORT, None)
    if report is None or not report.entries:
        return
    seconds = time.monotonic() - config.stash[STARTED]
    path = Path(os.environ.get(REPORT_ENV) or config.rootpath / DEFAULT_REPORT)
    report.write(path, seconds)
    terminalreporter.section("chaos report")
    terminalreporter.write_line(report.markdown(seconds))
    terminalreporter.write_line(f"(written to {path})")
