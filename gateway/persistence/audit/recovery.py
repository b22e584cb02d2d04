"""Draining the spools of gateway instances that are gone (crashed, killed, replaced).

Every instance writes `<root>/<instance>/` under a lease (gateway.persistence.audit.lease).
A folder that still holds segments while its lease has expired belongs to nobody: a live
gateway claims it, inserts its records (idempotently, on audit id) and deletes it. So an
acknowledged record outlives its task as long as the root does. A spool from before
per-instance folders (segments directly in the root) is drained the same way.

Blocking file and database I/O: `OrphanDrainer.drain_all` runs on a thread of its own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.persistence.audit.lease import Lease, LeaseHeld, lease_state
from gateway.persistence.audit.records import decode_record, to_row
from gateway.persistence.audit.segments import (
    CHECKPOINT,
    LOCK,
    MAX_PAYLOAD,
    SegmentFiles,
)
from gateway.persistence.audit.store import AuditStore
from gateway.persistence.files import remove_partials

log = logging.getLogger(__name__)


@dataclass
class Drained:
    """What draining orphaned folders did (counters for metrics)."""

    folders: int = 0
    records: int = 0
    refused: int = 0
    quarantined: int = 0


def rows_of(payloads: list[bytes], store: AuditStore) -> tuple[list[dict[str, Any]], int]:
    """Rows of the decodable payloads; the others go to `store`'s dead-letter file."""
    rows = []
    refused = 0
    for payload in payloads:
        try:
            rows.append(to_row(decode_record(payload)))
        except Exception as error:  # a frame that passed its checksum but is not a record
            store.write_dead_letter({"payload": payload.decode(errors="replace")}, error)
            refused += 1
    return rows, refused


def has_segments(folder: Path) -> bool:
    try:
        return any(
            name.startswith("segment-") and name.endswith(".spool") for name in os.listdir(folder)
        )
    except (FileNotFoundError, NotADirectoryError):
        return False


class OrphanDrainer:
    """Finds spool folders under `root` whose owner is gone and drains them into `store`."""

    def __init__(
        self,
        root: Path,
        own: Path,
        instance: str,
        lease_ttl_s: float,
        store: AuditStore,
        batch_records: int,
    ) -> None:
        self.root = root
        self.own = own
        self.instance = instance
        self.lease_ttl_s = lease_ttl_s
        self.store = store
        self.batch_records = batch_records

    def orphans(self) -> list[Path]:
        """Folders with segments whose lease expired (or that never had one and were left
        untouched for a lease's time): the root itself first, for an old spool's layout."""
        candidates = [self.root, *sorted(p for p in self.root.iterdir() if p.is_dir())]
        now = time.time()
        found = []
        for folder in candidates:
            if folder == self.own or not has_segments(folder):
                continue
            lease = lease_state(folder)
            last_sign_of_life = lease.renewed_at if lease else folder.stat().st_mtime
            if now - last_sign_of_life > self.lease_ttl_s:
                found.append(folder)
        return found

    def drain_all(self, stop: Callable[[], bool]) -> Drained:
        """Claim and drain every orphan (until `stop()`); database errors propagate."""
        done = Drained()
        for folder in self.orphans():
            if stop():
                break
            try:
                lease = Lease.claim(folder, self.instance, self.lease_ttl_s, same_instance=False)
            except LeaseHeld:
                continue
            log.warning("audit spool %s has no live owner: draining it", folder)
            try:
                self._drain(folder, lease, done, stop)
            finally:
                if folder.exists():
                    lease.release()
        return done

    def _drain(self, folder: Path, lease: Lease, done: Drained, stop: Callable[[], bool]) -> None:
        files = SegmentFiles(folder, MAX_PAYLOAD)
        recovered = files.recover(append=False)
        try:
            position = recovered.start
            while position < recovered.durable:
                if stop():
                    return
                batch = files.read(position, recovered.durable, self.batch_records)
                rows, refused = rows_of(batch.payloads, self.store)
                refused += self.store.insert(rows)
                files.commit(batch.end)
                lease.renew()
                position = batch.end
                done.records += len(rows) - refused
                done.refused += refused
                done.quarantined += batch.quarantined
            segments = files.segments()
        finally:
            files.close()
        for segment in segments:
            files.path(segment).unlink(missing_ok=True)
        for name in (CHECKPOINT, LOCK):
            (folder / name).unlink(missing_ok=True)
        remove_partials(folder)  # a checkpoint or lease write the dead owner did not finish
        lease.remove()
        done.folders += 1
        log.warning("audit spool %s drained into the database", folder)
        if folder != self.root:
            try:
                folder.rmdir()
            except OSError:  # quarantined bytes or dead letters stay for an operator
                log.warning("audit spool %s kept: it holds files for an operator", folder)
