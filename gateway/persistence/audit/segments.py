"""The spool on disk: numbered segment files of CRC-framed records and a checkpoint.

Layout of the spool folder:

    segment-000000000001.spool   frames: <u32 length><u32 crc32><payload>, appended, fsynced
    segment-000000000002.spool   the active segment (the newest); older ones are sealed
    checkpoint.json              {"segment": s, "offset": o}: everything before is in the DB
    spool.lock                   held (POSIX lock) by the one process using the spool

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
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

FRAME = struct.Struct("<II")
MAX_PAYLOAD = 16 * 1024 * 1024
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


@dataclass(frozen=True)
class Recovered:
    """What a previous process left behind: where reading resumes and how much is pending."""

    start: Position
    durable: Position
    pending_bytes: int
    pending_records: int


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"audit record of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class SegmentFiles:
    """Appends frames durably, reads them back in order, and truncates behind a checkpoint."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.fsyncs = 0
        """Data fsyncs done by `write`: one per group commit, however many records it held."""
        self._fd = -1
        self._active = 0
        self._size = 0
        self._reader: tuple[int, int] | None = None  # (segment, fd) kept open between reads
        self._lock_fd = -1

    def path(self, segment: int) -> Path:
        return self.directory / f"segment-{segment:012d}.spool"

    def segments(self) -> list[int]:
        found = (_SEGMENT.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    # -- start-up ----------------------------------------------------------------------

    def recover(self) -> Recovered:
        """Scan what an earlier process left, then open a fresh active segment.

        Appends never continue an old segment: its tail may be torn by a crash, and the
        reader skips a torn tail only in sealed segments.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        checkpoint = self._load_checkpoint()
        existing = self.segments()
        for segment in existing:
            if segment < checkpoint.segment:
                self.path(segment).unlink()
        remaining = [s for s in existing if s >= checkpoint.segment]
        self._active = max([checkpoint.segment, *remaining]) + 1
        self._fd = self._open_new(self._active)
        durable = Position(self._active, 0)
        if not remaining:
            start = durable
        elif remaining[0] == checkpoint.segment:
            start = checkpoint
        else:
            start = Position(remaining[0], 0)
        scan = self.read(start, durable, max_records=None, keep_payloads=False)
        if scan.corrupt:
            log.warning("audit spool: %d bytes of torn or corrupt frames skipped", scan.corrupt)
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
        self._fsync_directory()
        self._size = 0
        return fd

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- appending (one thread) --------------------------------------------------------

    def write(self, data: bytes) -> Position:
        """Append whole frames and fsync once; returns the new durable end."""
        if self._size >= self.segment_bytes:
            os.close(self._fd)
            self._fd = -1
            self._active += 1
            self._fd = self._open_new(self._active)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            # fdatasync also flushes the new file size (needed to read the data back), and
            # skips timestamps: the same durability for appends, measurably cheaper here.
            os.fdatasync(self._fd)
        except OSError:
            # Drop a partial write so the segment keeps ending on a frame boundary.
            os.ftruncate(self._fd, self._size)
            raise
        self.fsyncs += 1
        self._size += len(data)
        return Position(self._active, self._size)

    # -- reading and truncating (another thread) ---------------------------------------

    def read(
        self,
        start: Position,
        durable: Position,
        max_records: int | None,
        max_bytes: int = 8 * 1024 * 1024,
        keep_payloads: bool = True,
    ) -> ReadBatch:
        """Frames from `start`, stopping at `durable`, `max_records` or about `max_bytes`.

        A torn or corrupt frame ends its segment: the bytes after it are counted as
        `corrupt` and reading goes on in the next segment.
        """
        batch = ReadBatch(start, start)
        position = start
        read_bytes = 0
        while position < durable:
            if max_records is not None and len(batch.payloads) >= max_records:
                break
            if keep_payloads and read_bytes >= max_bytes:
                break
            fd = self._reader_fd(position.segment)
            limit = durable.offset if position.segment == durable.segment else os.fstat(fd).st_size
            payload = self._read_frame(fd, position.offset, limit)
            if payload is None:  # end of this segment, or the rest of it is unreadable
                skipped = max(limit - position.offset, 0)
                if skipped:
                    log.error("audit spool: skipping %d bad bytes in %s", skipped, position)
                batch.corrupt += skipped
                batch.consumed += skipped
                if position.segment == durable.segment:
                    position = Position(position.segment, limit)
                    break
                position = Position(position.segment + 1, 0)
                continue
            size = FRAME.size + len(payload)
            position = Position(position.segment, position.offset + size)
            batch.consumed += size
            read_bytes += size
            batch.payloads.append(payload if keep_payloads else b"")
        batch.end = position
        return batch

    def _reader_fd(self, segment: int) -> int:
        if self._reader is not None and self._reader[0] == segment:
            return self._reader[1]
        self._close_reader()
        try:
            fd = os.open(self.path(segment), os.O_RDONLY)
        except FileNotFoundError:  # nothing was ever written to it: read it as empty
            fd = os.open(os.devnull, os.O_RDONLY)
        self._reader = (segment, fd)
        return fd

    @staticmethod
    def _read_frame(fd: int, offset: int, limit: int) -> bytes | None:
        if offset + FRAME.size > limit:
            return None
        length, crc = FRAME.unpack(os.pread(fd, FRAME.size, offset))
        if length > MAX_PAYLOAD or offset + FRAME.size + length > limit:
            return None
        payload = os.pread(fd, length, offset + FRAME.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return None
        return payload

    def commit(self, position: Position) -> None:
        """Record that everything before `position` is in the database; drop older segments."""
        target = self.directory / CHECKPOINT
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump({"segment": position.segment, "offset": position.offset}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        self._fsync_directory()
        for segment in self.segments():
            if segment >= position.segment:
                break
            if self._reader is not None and self._reader[0] == segment:
                self._close_reader()
            self.path(segment).unlink()

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
