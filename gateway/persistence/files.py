"""Small files replaced whole and durably: checkpoints, leases, the key snapshot."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

_PARTIAL_PREFIX = "."
_PARTIAL_SUFFIX = ".tmp"
"""`replace_json` writes `.<name>.<random>.tmp` first: a process killed meanwhile leaves one."""


def fsync_directory(folder: Path) -> None:
    """Make a rename or a new file in `folder` survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_json(path: Path, data: Any, *, indent: int | None = None) -> None:
    """Write `data` as JSON beside `path` (mode 0600), fsync it, rename it over `path` and
    fsync the folder: a reader sees the old file or the new one, never a part. Concurrent
    writers each replace the file whole."""
    fd, temporary = tempfile.mkstemp(
        prefix=f"{_PARTIAL_PREFIX}{path.name}.", suffix=_PARTIAL_SUFFIX, dir=path.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def remove_partials(folder: Path) -> None:
    """Remove what `replace_json` calls left unfinished in `folder` (their writer died)."""
    for partial in folder.glob(f"{_PARTIAL_PREFIX}*{_PARTIAL_SUFFIX}"):
        partial.unlink(missing_ok=True)
