"""Which repository versions Triton loads: the `version_policy` line of every model config.

A publish writes the same version number into every model; which of them Triton loads is
the one `version_policy: { specific: { versions: [...] } }` line that the export renders
at the end of each model's configs (config.pbtxt and configs/*.pbtxt) and that a rollout
rewrites (`rollout`, docs/rollouts.md). One version is loaded outside a rollout, the
served and the candidate version during one. Keeping the choice in the configs makes a
restarted Triton load what was loaded before, and never a version nobody rolled out.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.layout import CONFIG_FILE, CONFIGS_DIR, MODELS

POLICY_LINE = re.compile(r"^version_policy\s*:.*$\n?", re.MULTILINE)
SPECIFIC = re.compile(r"specific\s*:?\s*\{\s*versions\s*:\s*\[([0-9,\s]*)\]")
RUN_IDS_PARAMETER = "mlflow_run_ids"
"""Config parameter: a JSON object of every version's MLflow run id, by version number, so
that whoever reads an answer's version can name the run it came from."""


def policy_line(versions: list[int]) -> str:
    """The config line that loads exactly `versions`."""
    listed = ", ".join(str(v) for v in sorted(set(versions)))
    return f"version_policy: {{ specific: {{ versions: [{listed}] }} }}\n"


def with_policy(config: str, versions: list[int]) -> str:
    """`config` with its version_policy line replaced by (or ended with) one for `versions`."""
    if not versions:
        raise ValueError("a model must load at least one version")
    stripped = POLICY_LINE.sub("", config).rstrip("\n")
    return f"{stripped}\n{policy_line(versions)}"


def read_policy(config: str) -> list[int] | None:
    """The versions a config's specific policy names; None when it sets none."""
    line = POLICY_LINE.search(config)
    if line is None:
        return None
    found = SPECIFIC.search(line.group(0))
    if found is None:
        return None
    return sorted(int(v) for v in found.group(1).replace(" ", "").split(",") if v)


def config_files(repository: Path) -> list[Path]:
    """Every config file of the project's models in `repository`."""
    files = []
    for model in MODELS:
        folder = repository / model
        if (folder / CONFIG_FILE).is_file():
            files.append(folder / CONFIG_FILE)
        files += sorted((folder / CONFIGS_DIR).glob("*.pbtxt"))
    return files


def loaded_versions(repository: Path) -> list[int] | None:
    """The versions the repository's configs tell Triton to load; None for a repository
    without a policy (Triton's default: the newest version)."""
    for path in config_files(repository):
        versions = read_policy(path.read_text())
        if versions is not None:
            return versions
    return None


def write_policy(repository: Path, versions: list[int]) -> list[Path]:
    """Rewrite the policy of every config in `repository` to load `versions`; the files it
    changed. Each file is replaced atomically (written aside, then renamed)."""
    changed = []
    for path in config_files(repository):
        text = path.read_text()
        new = with_policy(text, versions)
        if new != text:
            replace_text(path, new)
            changed.append(path)
    return changed


@contextmanager
def repository_lock(repository: Path) -> Iterator[None]:
    """Hold an exclusive lock on the repository folder: one publish or rollout command at a
    time changes its versions and configs (two publishes never share N; two rollouts never
    load each other's candidate away)."""
    handle = os.open(repository, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, fsync it, rename
    it over `path` and fsync the folder: after a crash the config is the old one or the
    new one, whole. (gateway.persistence.files.replace_json does the same for the
    gateway's own files; this package cannot import it.)"""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def run_ids_value(run_ids: dict[int, str]) -> str:
    """The `mlflow_run_ids` parameter's value."""
    return json.dumps({str(k): v for k, v in sorted(run_ids.items())}, separators=(",", ":"))


def parse_run_ids(value: str) -> dict[str, str]:
    """The `mlflow_run_ids` parameter's value as {version: run id} ({} when unreadable)."""
    try:
        parsed = json.loads(value) if value else {}
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): str(v) for k, v in parsed.items()}
