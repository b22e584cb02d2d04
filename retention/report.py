"""What one retention pass removed (or, in a dry run, would remove), kind by kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class KindResult:
    """One kind of data: how much of it goes, and how much stays."""

    kind: str
    removed: int = 0
    """Items removed (files, rows, version folders); in a dry run, items that would be."""
    removed_bytes: int | None = 0
    """Their size; None where it cannot be measured (rows of an SQLite table)."""
    kept: int = 0
    """Items left afterwards."""
    limit: str = ""
    """The policy that applied, in words (`older than 30 days`, `newest 100`, ...)."""


@dataclass
class RetentionReport:
    """The result of `sentiment retention apply [--dry-run]`."""

    dry_run: bool
    kinds: list[KindResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "kinds": [asdict(kind) for kind in self.kinds]}

    def render(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        header = f"{'KIND':<16}{verb.upper():>14}{'BYTES':>16}{'KEPT':>12}  POLICY"
        lines = [header]
        for kind in self.kinds:
            size = "-" if kind.removed_bytes is None else f"{kind.removed_bytes:,}"
            lines.append(
                f"{kind.kind:<16}{kind.removed:>14,}{size:>16}{kind.kept:>12,}  {kind.limit}"
            )
        return "\n".join(lines)
