"""Version metadata: file digests, metadata.json and the config `parameters` Triton shows."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from contract.layout import METADATA_FILE
from export.errors import RepositoryError


@dataclass(frozen=True)
class ModelSource:
    """Where the exported model came from in MLflow (all None for a bare folder)."""

    run_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` but metadata.json, keyed by POSIX relative path."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != METADATA_FILE
    }


def manifest_digest(digests: dict[str, str]) -> str:
    """One sha256 for a set of files: the sha256 of their `sha256sum` listing, sorted by path.

    Reproduce it in a version folder with
    `find . -type f ! -name metadata.json -printf '%P\\n' | sort | xargs sha256sum | sha256sum`.
    """
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(template: str, parameters: dict[str, str]) -> str:
    """The template with one `parameters { key ... string_value ... }` entry per item added.

    Raises RepositoryError if the template already sets one of the keys (Triton would
    reject the duplicate map key, or silently take one of them).
    """
    for key in parameters:
        if re.search(rf'key\s*:\s*"{re.escape(key)}"', template):
            raise RepositoryError(f"template already sets parameter {key!r}")
    lines = [template.rstrip("\n"), "", "# Rendered by the export for the newest version."]
    for key, value in parameters.items():
        lines += [
            "parameters {",
            f"  key: {_quote(key)}",
            f"  value {{ string_value: {_quote(value)} }}",
            "}",
        ]
    return "\n".join(lines) + "\n"
