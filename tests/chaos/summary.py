"""The chaos suite's report: one table per scenario, as markdown for docs/reliability.md.

Each scenario test fills a `ScenarioEntry` (its title is the first line of the test's
docstring, `N. what happens`); conftest.py records how the test ended and, at the end of
the session, prints the report and writes it to `CHAOS_REPORT` (default
`.state/chaos/report.md`, git-ignored).
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.ledger import Tally

REPORT_ENV = "CHAOS_REPORT"
DEFAULT_REPORT = Path(".state") / "chaos" / "report.md"
COLUMNS = ("requests sent", "acknowledged", "audited", "lost", "duplicated")


@dataclass
class ScenarioEntry:
    title: str
    tallies: list[tuple[str, Tally]] = field(default_factory=list)
    """(what was counted, its tally): a scenario may count several phases."""
    notes: list[str] = field(default_factory=list)
    result: str = "not run"
    """passed, failed, skipped or error, set from pytest's report of the test."""
    reason: str = ""
    seconds: float = 0.0
    expected_lost: int = 0
    """Records the scenario loses by design (the corrupted frame of scenario 3)."""

    @property
    def number(self) -> int:
        head = self.title.split(".", 1)[0]
        return int(head) if head.isdigit() else 99

    def add(self, label: str, tally: Tally) -> None:
        self.tallies.append((label, tally))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> list[str]:
        lines = [f"### {self.title}", ""]
        lines.append(f"Result: **{self.result}** ({self.seconds:.0f} s)")
        if self.reason:
            lines.append(f"  \n{self.reason}")
        lines.append("")
        if self.tallies:
            lines.append("| | " + " | ".join(COLUMNS) + " |")
            lines.append("| --- |" + " ---: |" * len(COLUMNS))
            for label, t in self.tallies:
                values = (t.sent, t.acknowledged, t.audited, t.lost, t.duplicated)
                lines.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")
            lines.append("")
        lines.extend(f"- {note}" for note in self.notes)
        if self.notes:
            lines.append("")
        return lines


@dataclass
class ChaosReport:
    entries: dict[str, ScenarioEntry] = field(default_factory=dict)
    """By pytest node id."""

    def markdown(self, seconds: float, command: str = "make chaos") -> str:
        entries = sorted(self.entries.values(), key=lambda e: (e.number, e.title))
        lost = sum(t.lost for e in entries for _, t in e.tallies)
        duplicated = sum(t.duplicated for e in entries for _, t in e.tallies)
        lines = [
            "## Chaos suite",
            "",
            f"`{command}` at {_commit()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{os.cpu_count()} CPU cores ({platform.machine()}), {seconds:.0f} s in all.",
            "",
            "| scenario | result | sent | acknowledged | audited | lost | duplicated |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for e in entries:
            sums = [sum(getattr(t, n) for _, t in e.tallies) for n in _FIELDS]
            cells = [str(v) for v in sums] if e.tallies else ["-"] * len(_FIELDS)
            lines.append(f"| {e.title} | {e.result} | " + " | ".join(cells) + " |")
        expected = sum(e.expected_lost for e in entries if e.tallies)
        lines += [
            "",
            f"Lost in all: {lost} ({expected} by design: a corrupted frame's record); "
            f"duplicated in all: {duplicated}.",
            "",
        ]
        for e in entries:
            lines += e.markdown()
        return "\n".join(lines)

    def write(self, path: Path, seconds: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown(seconds))


_FIELDS = ("sent", "acknowledged", "audited", "lost", "duplicated")


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
    except OSError:
        return "an unknown commit"
    return f"commit {done.stdout.strip()}" if done.returncode == 0 else "an unknown commit"
