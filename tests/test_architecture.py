"""The package graph of docs/architecture.md, checked against the code's own imports.

Every import counts: module level, inside functions and under TYPE_CHECKING. A package may
import only the packages its row allows (lower layers); inside the gateway, the core
imports none of the layers that depend on it. Generated code and tests are not scanned.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "contract": set(),
    "api": set(),
    "telemetry": set(),
    "store": {"config"},
    "client": {"api"},
    "training": {"config", "contract"},
    "export": {"config", "contract", "training"},
    "serving": {"config", "contract", "training"},
    "gateway": {"config", "contract", "store", "api", "telemetry"},
    "retention": {"config", "contract", "store", "telemetry"},
    "monitoring": {"config", "contract", "store", "telemetry", "retention"},
    "rollout": {"config", "contract", "store", "serving"},
    "sentiment": {
        "config",
        "contract",
        "store",
        "api",
        "telemetry",
        "client",
        "training",
        "export",
        "serving",
        "gateway",
        "monitoring",
        "retention",
        "rollout",
    },
}
"""Who may import whom: the layers, bottom (leaves) to top (the command line)."""

GATEWAY_ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "upstream": {"core"},
    "persistence": {"core"},
    "transport": {"core", "metrics"},
    "metrics": set(),
    "settings": {"core"},
    "server": {"core", "upstream", "persistence", "transport", "metrics", "settings"},
    "__main__": {"server"},
}
"""Inside the gateway: transport -> core <- upstream, persistence; `server` wires them."""


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def sources(package: str) -> Iterator[Path]:
    for path in sorted((ROOT / package).rglob("*.py")):
        if "generated" not in path.relative_to(ROOT).parts:
            yield path


def test_every_package_has_a_row() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages == set(ALLOWED)


def test_packages_import_only_lower_layers() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sources(package):
            for module in imported_modules(path):
                target = module.split(".")[0]
                if target in ALLOWED and target != package and target not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_gateway_core_imports_no_layer_above_it() -> None:
    wrong = []
    for path in sources("gateway"):
        parts = path.relative_to(ROOT / "gateway").with_suffix("").parts
        own = parts[0]
        if own == "__init__":
            continue
        for module in imported_modules(path):
            pieces = module.split(".")
            if pieces[0] != "gateway" or len(pieces) < 2 or pieces[1] == own:
                continue
            if pieces[1] not in GATEWAY_ALLOWED[own]:
                wrong.append(f"gateway/{'/'.join(parts)}.py imports {module}")
    assert not wrong, "\n".join(wrong)
