"""The admin key of Triton's model-repository API (index, load, unload) and its headers.

Triton runs with that API restricted (`--http-restricted-api` and
`--grpc-restricted-protocol`, `model-repository:<header>=<key>`): a call without the
header is refused (HTTP 403, gRPC UNAVAILABLE) while health, metadata, config, statistics
and inference stay open. The key is `SENTIMENT_TRITON_ADMIN_KEY` where one is set (compose,
ECS, a remote Triton); otherwise a local run makes one once and keeps it in the state dir,
mode 0600, where `sentiment export`, `models` and `retention` find it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from config.settings import PipelineSettings
from config.triton import ADMIN_HEADER, GRPC_ADMIN_HEADER

ADMIN_KEY_FILE = "triton-admin-key"
"""The local key's file name in the state dir."""
NEEDS_ADMIN_KEY = (
    "Triton's model-repository API needs the admin key: set SENTIMENT_TRITON_ADMIN_KEY "
    "to the key the server was started with"
)


def new_admin_key() -> str:
    """A fresh key: 64 hex digits."""
    return secrets.token_hex(32)


def admin_key_path(state_dir: Path) -> Path:
    return state_dir / ADMIN_KEY_FILE


def admin_key(settings: PipelineSettings, create: bool = False) -> str | None:
    """SENTIMENT_TRITON_ADMIN_KEY, else the local key in the state dir; None when neither
    exists and `create` is false. With `create`, a missing local key is made (mode 0600)."""
    if settings.triton.admin_key is not None:
        return settings.triton.admin_key.get_secret_value()
    path = admin_key_path(settings.state_dir)
    found = _read_key(path)
    if found is not None or not create:
        return found
    return _write_once(path, new_admin_key())


def http_headers(key: str | None) -> dict[str, str] | None:
    """The headers of an HTTP model-repository call (None without a key)."""
    return {ADMIN_HEADER: key} if key else None


def grpc_headers(key: str | None) -> dict[str, str] | None:
    """The metadata of a gRPC model-repository call (None without a key)."""
    return {GRPC_ADMIN_HEADER: key} if key else None


def _read_key(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def _write_once(path: Path, key: str) -> str:
    """Write `key` unless another process got there first; return the key on disk.

    Written to a private temporary file and linked into place, so a reader never sees a
    partial key and two starts at once agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another start made one: use it
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path) or key
