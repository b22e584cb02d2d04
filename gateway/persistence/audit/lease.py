"""Leases on spool folders under a root shared by gateway instances (EFS, a volume).

A folder's lease is its newest `lease-<generation>.json`, {"owner", "instance", "renewed_at"}.
Its owner rewrites it every few seconds. Taking a folder over creates the next
generation's file with O_CREAT | O_EXCL, which exactly one claimant can do (also on NFS
v4, which EFS speaks), so a folder never has two owners; an owner that finds a newer
generation than its own has lost the folder and must stop writing to it.

Fencing: the owner acknowledges a record only while `fresh()`, i.e. within half a ttl of
its last successful renewal, checked after the record is fsynced. A claimant waits a whole
ttl, so every acknowledged record is on disk before anyone else reads the folder, even if
the owner was paused (GC, a frozen VM) between its last renewal and its next write.

A lease is expired when it was not renewed for `ttl` seconds, by the wall clock: the
instances sharing a root need synchronised clocks (ECS hosts use the Amazon Time Sync
Service), and `ttl` should be many renewal intervals long.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.persistence.files import replace_json

_LEASE = re.compile(r"^lease-(\d{12})\.json$")


class LeaseHeld(RuntimeError):
    """The folder has a live owner (or another claimant won the race)."""


class LeaseLost(RuntimeError):
    """Another instance took the folder over: this one must stop writing to it."""


@dataclass(frozen=True)
class LeaseState:
    generation: int
    owner: str
    instance: str
    renewed_at: float


def lease_state(folder: Path) -> LeaseState | None:
    """The folder's current lease, None if it never had one."""
    generations = _generations(folder)
    if not generations:
        return None
    newest = generations[-1]
    try:
        data = json.loads(_path(folder, newest).read_text())
        return LeaseState(newest, str(data["owner"]), str(data["instance"]), data["renewed_at"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        # Created but not yet written (or torn): as live as its file's modification time.
        try:
            modified = _path(folder, newest).stat().st_mtime
        except FileNotFoundError:
            modified = 0.0
        return LeaseState(newest, "", "", modified)


def _generations(folder: Path) -> list[int]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    found = (_LEASE.match(name) for name in names)
    return sorted(int(m.group(1)) for m in found if m)


def _path(folder: Path, generation: int) -> Path:
    return folder / f"lease-{generation:012d}.json"


class Lease:
    """This process's ownership of one spool folder."""

    def __init__(self, folder: Path, instance: str, ttl: float) -> None:
        self.folder = folder
        self.instance = instance
        self.ttl = ttl
        self.owner = f"{instance}/{os.getpid()}/{secrets.token_hex(4)}"
        self.generation = 0
        self._renewed = time.monotonic()

    def fresh(self) -> bool:
        """True while records may be acknowledged (see the module's fencing note)."""
        return time.monotonic() - self._renewed < self.ttl / 2

    @classmethod
    def claim(cls, folder: Path, instance: str, ttl: float, *, same_instance: bool) -> Lease:
        """Take `folder` when it has no lease, its lease expired, or (with `same_instance`)
        its holder was this instance name in an earlier process; LeaseHeld otherwise.

        `same_instance` is for a restart under a fixed instance name: the caller must also
        hold the folder's process lock, which proves the earlier process is gone.
        """
        current = lease_state(folder)
        if current is not None:
            expired = time.time() - current.renewed_at > ttl
            if not expired and not (same_instance and current.instance == instance):
                raise LeaseHeld(f"{folder} is held by {current.owner or 'a starting instance'}")
        lease = cls(folder, instance, ttl)
        lease.generation = (current.generation if current else 0) + 1
        try:
            fd = os.open(
                _path(folder, lease.generation), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except FileExistsError as error:
            raise LeaseHeld(f"{folder} was claimed by another instance") from error
        os.close(fd)
        lease._write(time.time())
        for generation in _generations(folder):
            if generation < lease.generation:
                _path(folder, generation).unlink(missing_ok=True)
        return lease

    def renew(self) -> None:
        """Extend the lease; LeaseLost when another instance has taken the folder."""
        newest = _generations(self.folder)
        if not newest or newest[-1] != self.generation:
            raise LeaseLost(f"{self.folder} was taken over by another instance")
        self._write(time.time())

    def release(self) -> None:
        """Mark the lease expired now, so another instance may drain what is left at once."""
        newest = _generations(self.folder)
        if newest and newest[-1] == self.generation:
            self._write(0.0)

    def remove(self) -> None:
        _path(self.folder, self.generation).unlink(missing_ok=True)

    def _write(self, renewed_at: float) -> None:
        started = time.monotonic()
        data = {"owner": self.owner, "instance": self.instance, "renewed_at": renewed_at}
        replace_json(_path(self.folder, self.generation), data)
        if renewed_at:
            self._renewed = started
