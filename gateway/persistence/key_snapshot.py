"""The local snapshot of the API key table: what a gateway authenticates from when it
starts while the database is unreachable. Ids, names, salts, hashes and revocations only,
never a secret; mode 0600, and refused when others may write it (they could add keys)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from gateway.persistence.files import replace_json

SNAPSHOT_FORMAT = 1
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
_HEX = re.compile(r"^(?:[0-9a-f]{2})+$")


class KeyRow(NamedTuple):
    """What authentication needs of a stored key: hashes only."""

    name: str
    salt: str
    secret_hash: str
    revoked: bool


def write_snapshot(path: Path, rows: Mapping[str, KeyRow], confirmed_at: float) -> None:
    """Write the key table to `path` atomically (temporary file, fsync, rename), mode 0600.
    Concurrent writers (gateways sharing the file) each replace it whole."""
    body = {
        "format": SNAPSHOT_FORMAT,
        "confirmed_at": datetime.fromtimestamp(confirmed_at, UTC).isoformat(),
        "keys": [{"key_id": key_id, **row._asdict()} for key_id, row in sorted(rows.items())],
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_json(path, body, indent=1)


def read_snapshot(path: Path) -> tuple[dict[str, KeyRow], float]:
    """The key table in `path` and the time.time() the database confirmed it; ValueError
    when it is malformed or writable by others (anyone who can write it can add keys)."""
    with path.open(encoding="utf-8") as file:
        if os.fstat(file.fileno()).st_mode & 0o022:
            raise ValueError("writable by group or others")
        body: Any = json.load(file)
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"not an API key snapshot of format {SNAPSHOT_FORMAT}")
    try:
        confirmed_at = datetime.fromisoformat(body["confirmed_at"]).timestamp()
        rows = {}
        for item in body["keys"]:
            row = KeyRow(item["name"], item["salt"], item["secret_hash"], item["revoked"])
            hashes_ok = all(isinstance(v, str) and _HEX.match(v) for v in row[1:3])
            typed = isinstance(row.name, str) and isinstance(row.revoked, bool)
            if not (_KEY_ID.match(item["key_id"]) and hashes_ok and typed):
                raise ValueError(f"bad key entry {item.get('key_id')!r}")
            rows[item["key_id"]] = row
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed: {error!r}") from None
    return rows, confirmed_at
