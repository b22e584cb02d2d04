"""The spool on disk: numbered segment files of CRC-framed records and a checkpoint.

Layout of the spool folder:

    segment-000000000001.spool   HEADER, then frames <MARKER><u32 length><u32 crc32><payload>
                                 (the CRC covers length and payload), appended, fsynced
    segment-000000000002.spool   the active segment (the newest); older ones are sealed
    checkpoint.json              {"segment": s, "offset": o}: everything before is in the DB
    spool.lock                   held (POSIX lock) by the one process using the spool
    quarantine/                  bytes of corrupt frames, one file per bad stretch

A bad frame costs only itself: the reader resynchronises on the next marker that starts a
frame whose length and checksum hold, and copies the bytes in between to quarantine/.
Segments written before frames had markers (no HEADER) are still read, without resync.

Blocking file I/O only; `AuditSpool` calls `write` from one thread and `read`/`commit` from
another. They share no mutable state: positions travel as arguments, and `commit` deletes
only segments before the checkpoint, never the active one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.persistence.files import fsync_directory, replace_json

log = logging.getLogger(__name__)

HEADER = b"SNTAUD\x00\x02"
"""First bytes of a segment whose frames carry MARKER (format 2)."""
MARKER = b"\xff\xfeAR"
"""Starts every frame; 0xFF and 0xFE never occur in the UTF-8 JSON payloads."""
FRAME = struct.Struct("<4sII")
LEGACY_FRAME = struct.Struct("<II")
MAX_PAYLOAD = 16 * 1024 * 1024
QUARANTINE = "quarantine"
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)
_SEGMENT = re.compile(r"^segment-(\d{12})\.spool$")
CHECKPOINT = "checkpoint.json"
LOCK = "spool.lock"


class SpoolLocked(RuntimeError):
    """Another live process has this spool open."""


@dataclass(frozen=True, order=True)
class Position:
    """A byte offset in a segment; positions order like the records they point at."""

    segment: int
    offset: int


@dataclass
class ReadBatch:
    """Frames read from `start` up to `end`; `consumed` counts every byte passed over."""

    start: Position
    end: Position
    payloads: list[bytes] = field(default_factory=list)
    consumed: int = 0
    corrupt: int = 0
    """Bytes passed over as torn or corrupt."""
    quarantined: int = 0
    """Stretches of corrupt bytes (each about one lost record) copied to quarantine/."""


@dataclass(frozen=True)
class Recovered:
    """What a previous process left behind: where reading resumes and how much is pending."""

    start: Position
    durable: Position
    pending_bytes: int
    pending_records: int


def _checksum(length: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(length.to_bytes(4, "little")))


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"audit record of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return FRAME.pack(MARKER, len(payload), _checksum(len(payload), payload)) + payload


def parse_frame(data: bytes | memoryview, offset: int) -> bytes | None:
    """The payload of the format-2 frame at `offset` of `data`, None if none is whole there."""
    if offset + FRAME.size > len(data):
        return None
    marker, length, crc = FRAME.unpack_from(data, offset)
    end = offset + FRAME.size + length
    if marker != MARKER or length > MAX_PAYLOAD or end > len(data):
        return None
    payload = bytes(data[offset + FRAME.size : end])
    return payload if _checksum(length, payload) == crc else None


class SegmentFiles:
    """Appends frames durably, reads them back in order, and truncates behind a checkpoint.

    `disk_bytes` is what the segment files hold on disk (headers and frames already in the
    database but not yet deleted with their segment included): the spool's bound applies
    to it. The appending thread adds to `_written`, the reading thread to `_deleted`.
    """

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.fsyncs = 0
        """Data fsyncs done by `write`: one per group commit, however many records it held."""
        self._fd = -1
        self._active = 0
        self._size = 0
        self._torn = False  # a failed write could not be cut back: start a new segment
        self._written = 0
        self._deleted = 0
        self._reader: tuple[int, int, bool] | None = None  # (segment, fd, has header)
        self._lock_fd = -1

    @property
    def disk_bytes(self) -> int:
        return self._written - self._deleted

    def path(self, segment: int) -> Path:
        return self.directory / f"segment-{segment:012d}.spool"

    def segments(self) -> list[int]:
        found = (_SEGMENT.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    # -- start-up ----------------------------------------------------------------------

    def recover(self, append: bool = True) -> Recovered:
        """Scan what an earlier process left; with `append`, open a fresh active segment.

        Appends never continue an old segment: its tail may be torn by a crash. Without
        `append` (draining a spool whose owner is gone) nothing new is created, the durable
        end is the end of the newest segment, and the process lock is not taken: on NFS a
        dead client's lock outlives it, and the folder's lease fences its old owner.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        if append:
            self._lock()
        checkpoint = self._load_checkpoint()
        existing = self.segments()
        for segment in existing:
            if segment < checkpoint.segment:
                self.path(segment).unlink()
        remaining = [s for s in existing if s >= checkpoint.segment]
        self._written = sum(self.path(s).stat().st_size for s in remaining)
        if append:
            self._active = max([checkpoint.segment, *remaining]) + 1
            self._fd = self._open_new(self._active)
            durable = Position(self._active, self._size)
        elif remaining:
            durable = Position(remaining[-1], self.path(remaining[-1]).stat().st_size)
        else:
            durable = checkpoint
        if not remaining:
            start = durable
        elif remaining[0] == checkpoint.segment:
            start = checkpoint
        else:
            start = Position(remaining[0], 0)
        scan = self.read(start, durable, max_records=None, keep_payloads=False, quarantine=False)
        if scan.corrupt:
            log.warning("audit spool: %d bytes of torn or corrupt frames found", scan.corrupt)
        return Recovered(start, durable, scan.consumed, len(scan.payloads))

    def _lock(self) -> None:
        """One process per spool: a second gateway on the same folder would interleave frames.

        A POSIX lock: the kernel drops it when the process dies, so a crashed gateway
        never blocks its successor.
        """
        self._lock_fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise SpoolLocked(f"audit spool {self.directory} is used by another process") from error

    def _load_checkpoint(self) -> Position:
        try:
            data = json.loads((self.directory / CHECKPOINT).read_text())
            return Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            existing = self.segments()
            return Position(existing[0] if existing else 1, 0)

    def _open_new(self, segment: int) -> int:
        fd = os.open(self.path(segment), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.write(fd, HEADER)
            os.fdatasync(fd)
            fsync_directory(self.directory)
        except OSError:
            os.close(fd)
            raise
        self._written += len(HEADER)
        self._size = len(HEADER)
        self._torn = False
        return fd

    # -- appending (one thread) --------------------------------------------------------

    def write(self, frames: Sequence[bytes]) -> Position:
        """Append whole frames (writev, no joined copy) with one fsync per segment touched;
        returns the new durable end. A segment passes `segment_bytes` only by one frame
        larger than that, so a drained spool holds at most about one segment."""
        run: list[bytes] = []
        run_size = 0
        for data in frames:
            if run and self._size + run_size + len(data) > self.segment_bytes:
                self._append(run, run_size)
                run, run_size = [], 0
            full = self._size > len(HEADER) and self._size + len(data) > self.segment_bytes
            if not run and (self._torn or full):
                self._rotate()
            run.append(data)
            run_size += len(data)
        if run:
            self._append(run, run_size)
        return Position(self._active, self._size)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        self._active += 1
        self._fd = self._open_new(self._active)

    def _append(self, frames: list[bytes], size: int) -> None:
        try:
            _write_all(self._fd, frames)
            # fdatasync also flushes the new file size (needed to read the data back), and
            # skips timestamps: the same durability for appends, measurably cheaper here.
            os.fdatasync(self._fd)
        except OSError:
            # Drop a partial write so the segment keeps ending on a frame boundary; if even
            # that fails, the next write starts a new segment (the reader resyncs past it).
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                self._torn = True
                self._written += max(os.fstat(self._fd).st_size - self._size, 0)
            raise
        self.fsyncs += 1
        self._size += size
        self._written += size

    # -- reading and truncating (another thread) ---------------------------------------

    def read(
        self,
        start: Position,
        durable: Position,
        max_records: int | None,
        max_bytes: int = 8 * 1024 * 1024,
        keep_payloads: bool = True,
        quarantine: bool = True,
    ) -> ReadBatch:
        """Frames from `start`, stopping at `durable`, `max_records` or about `max_bytes`.

        Bytes that are not a whole frame are passed over up to the next valid frame
        (counted as `corrupt`; with `quarantine`, copied to quarantine/ and counted as
        `quarantined`). In a segment without markers they end the segment.
        """
        batch = ReadBatch(start, start)
        position = start
        read_bytes = 0
        while position < durable:
            if max_records is not None and len(batch.payloads) >= max_records:
                break
            if keep_payloads and read_bytes >= max_bytes:
                break
            fd, marked = self._reader_fd(position.segment)
            last = position.segment == durable.segment
            limit = durable.offset if last else os.fstat(fd).st_size
            if marked and position.offset < len(HEADER):
                position = Position(position.segment, len(HEADER))
            if position.offset >= limit:
                if last:
                    break
                position = Position(position.segment + 1, 0)
                continue
            payload = self._read_frame(fd, marked, position.offset, limit)
            if payload is None:
                resume = self._resync(fd, position.offset, limit) if marked else limit
                skipped = resume - position.offset
                log.error("audit spool: %d bad bytes at %s skipped", skipped, position)
                if quarantine:
                    self._quarantine(fd, position, skipped)
                    batch.quarantined += 1
                batch.corrupt += skipped
                batch.consumed += skipped
                position = Position(position.segment, resume)
                continue
            size = (FRAME.size if marked else LEGACY_FRAME.size) + len(payload)
            position = Position(position.segment, position.offset + size)
            batch.consumed += size
            read_bytes += size
            batch.payloads.append(payload if keep_payloads else b"")
        batch.end = position
        return batch

    def _reader_fd(self, segment: int) -> tuple[int, bool]:
        if self._reader is not None and self._reader[0] == segment:
            return self._reader[1], self._reader[2]
        self._close_reader()
        try:
            fd = os.open(self.path(segment), os.O_RDONLY)
        except FileNotFoundError:  # nothing was ever written to it: read it as empty
            fd = os.open(os.devnull, os.O_RDONLY)
        marked = os.pread(fd, len(HEADER), 0) == HEADER
        self._reader = (segment, fd, marked)
        return fd, marked

    @staticmethod
    def _read_frame(fd: int, marked: bool, offset: int, limit: int) -> bytes | None:
        if marked:
            if offset + FRAME.size > limit:
                return None
            marker, length, _ = FRAME.unpack(os.pread(fd, FRAME.size, offset))
            if marker != MARKER or length > MAX_PAYLOAD or offset + FRAME.size + length > limit:
                return None
            return parse_frame(os.pread(fd, FRAME.size + length, offset), 0)
        if offset + LEGACY_FRAME.size > limit:
            return None
        length, crc = LEGACY_FRAME.unpack(os.pread(fd, LEGACY_FRAME.size, offset))
        if length > MAX_PAYLOAD or offset + LEGACY_FRAME.size + length > limit:
            return None
        payload = os.pread(fd, length, offset + LEGACY_FRAME.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return None
        return payload

    @staticmethod
    def _resync(fd: int, offset: int, limit: int) -> int:
        """Offset of the first valid frame after the bad one at `offset`, or `limit`."""
        data = os.pread(fd, limit - offset, offset)
        found = data.find(MARKER, 1)
        while found >= 0:
            if parse_frame(data, found) is not None:
                return offset + found
            found = data.find(MARKER, found + 1)
        return limit

    def _quarantine(self, fd: int, position: Position, size: int) -> None:
        """Keep the bad bytes for an operator to inspect; a failure here costs only them."""
        folder = self.directory / QUARANTINE
        target = folder / f"segment-{position.segment:012d}-{position.offset:012d}.bin"
        try:
            folder.mkdir(exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(os.pread(fd, size, position.offset))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            log.exception("audit spool: could not quarantine %d bytes to %s", size, target)
        else:
            log.error("audit spool: %d corrupt bytes quarantined to %s", size, target)

    def commit(self, position: Position) -> None:
        """Record that everything before `position` is in the database; drop older segments."""
        replace_json(
            self.directory / CHECKPOINT, {"segment": position.segment, "offset": position.offset}
        )
        for segment in self.segments():
            if segment >= position.segment:
                break
            if self._reader is not None and self._reader[0] == segment:
                self._close_reader()
            path = self.path(segment)
            size = path.stat().st_size
            path.unlink()
            self._deleted += size

    def _close_reader(self) -> None:
        if self._reader is not None:
            os.close(self._reader[1])
            self._reader = None

    def close(self) -> None:
        self._close_reader()
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def _write_all(fd: int, frames: Sequence[bytes]) -> None:
    """os.writev until every byte is written (a short write resumes mid-frame)."""
    pending: list[bytes | memoryview] = list(frames)
    first = 0
    while first < len(pending):
        written = os.writev(fd, pending[first : first + _IOV_MAX])
        while written:
            head = pending[first]
            if written >= len(head):
                written -= len(head)
                first += 1
            else:
                pending[first] = memoryview(head)[written:]
                written = 0
