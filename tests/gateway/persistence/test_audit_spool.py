"""The spool alone (no database): fsync before acknowledgement, failures, torn frames."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from persistence_helpers import run

from gateway.core.contracts import AuditUnavailable
from gateway.persistence.audit.segments import Position, SegmentFiles, frame
from gateway.persistence.audit.spool import AuditSpool


def test_append_returns_only_after_its_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    original = SegmentFiles.write

    def gated_write(self: SegmentFiles, data: bytes) -> Position:
        gate.wait(10)
        return original(self, data)

    monkeypatch.setattr(SegmentFiles, "write", gated_write)

    async def body() -> None:
        spool = await AuditSpool.open(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
        appends = [asyncio.create_task(spool.append(b"record %d" % i)) for i in range(5)]
        await asyncio.sleep(0.1)
        assert not any(a.done() for a in appends) and spool.fsyncs == 0
        gate.set()
        await asyncio.gather(*appends)
        assert spool.fsyncs == 1 and spool.pending_records == 5
        await spool.close()

    run(body())


def test_failed_write_fails_its_callers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_write(self: SegmentFiles, data: bytes) -> Position:
        raise OSError(28, "No space left on device")

    async def body() -> None:
        spool = await AuditSpool.open(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
        with monkeypatch.context() as patch:
            patch.setattr(SegmentFiles, "write", broken_write)
            results = await asyncio.gather(
                *(spool.append(b"x") for _ in range(3)), return_exceptions=True
            )
        assert all(isinstance(r, AuditUnavailable) for r in results)
        await spool.append(b"after")  # the spool keeps working once the disk does
        assert spool.pending_records == 1
        await spool.close()

    run(body())


def test_reader_skips_torn_and_corrupt_frames(tmp_path: Path) -> None:
    files = SegmentFiles(tmp_path, segment_bytes=16)
    files.recover()
    files.write(frame(b"one") + frame(b"two"))
    files.write(frame(b"three"))  # rotates: the first segment is now sealed
    files.close()
    first, second = files.segments()
    with open(files.path(first), "ab") as handle:
        handle.write(frame(b"torn")[:-2])
    data = bytearray(files.path(second).read_bytes())
    data[-1] ^= 0xFF  # flip a payload bit: the CRC no longer matches
    files.path(second).write_bytes(bytes(data))

    reopened = SegmentFiles(tmp_path, segment_bytes=16)
    recovered = reopened.recover()
    batch = reopened.read(recovered.start, recovered.durable, max_records=None)
    assert batch.payloads == [b"one", b"two"]
    assert batch.corrupt == len(frame(b"torn")) - 2 + len(frame(b"three"))
    assert batch.consumed == recovered.pending_bytes and batch.end == recovered.durable
    reopened.commit(batch.end)
    assert reopened.segments() == [recovered.durable.segment]
    reopened.close()


def test_a_second_process_cannot_open_a_spool_in_use(tmp_path: Path) -> None:
    import subprocess
    import sys

    files = SegmentFiles(tmp_path, segment_bytes=1024)
    files.recover()
    probe = (
        "import sys; from pathlib import Path; "
        "from gateway.persistence.audit.segments import SegmentFiles, SpoolLocked\n"
        "try: SegmentFiles(Path(sys.argv[1]), 1024).recover()\n"
        "except SpoolLocked: sys.exit(3)\n"
    )
    root = str(Path(__file__).resolve().parents[3])
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=root, timeout=30)
    assert result.returncode == 3
    files.close()
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=root, timeout=30)
    assert result.returncode == 0
