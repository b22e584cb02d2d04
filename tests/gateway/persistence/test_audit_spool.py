"""The spool alone (no database): fsync before acknowledgement, failures, torn frames."""

from __future__ import annotations

import asyncio
import threading
import zlib
from pathlib import Path

import pytest
from persistence_helpers import run

from gateway.core.contracts import AuditSpoolFull, AuditUnavailable
from gateway.persistence.audit.segments import (
    FRAME,
    HEADER,
    LEGACY_FRAME,
    QUARANTINE,
    Position,
    SegmentFiles,
    frame,
)
from gateway.persistence.audit.spool import AuditSpool


def test_append_returns_only_after_its_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    original = SegmentFiles.write

    def gated_write(self: SegmentFiles, data: list[bytes]) -> Position:
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
    def broken_write(self: SegmentFiles, data: list[bytes]) -> Position:
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


def test_a_corrupt_frame_costs_only_itself_and_is_quarantined(tmp_path: Path) -> None:
    files = SegmentFiles(tmp_path, segment_bytes=1 << 20)
    files.recover()
    payloads = [b"record %d" % i for i in range(9)]
    files.write([frame(p) for p in payloads])
    files.close()
    (segment,) = files.segments()
    data = bytearray(files.path(segment).read_bytes())
    middle = data.index(b"record 4")
    data[middle + 3] ^= 0xFF  # one flipped bit in the fifth record's payload
    files.path(segment).write_bytes(bytes(data))

    reopened = SegmentFiles(tmp_path, segment_bytes=1 << 20)
    recovered = reopened.recover()
    assert recovered.pending_records == 8
    batch = reopened.read(recovered.start, recovered.durable, max_records=None)
    assert batch.payloads == payloads[:4] + payloads[5:]
    assert batch.quarantined == 1 and batch.corrupt == len(frame(payloads[4]))
    (kept,) = (tmp_path / QUARANTINE).iterdir()
    assert kept.read_bytes() == bytes(data[middle - FRAME.size : middle + len(payloads[4])])
    assert batch.consumed == recovered.pending_bytes and batch.end == recovered.durable
    reopened.close()


def test_a_torn_tail_and_a_corrupt_length_are_passed_over(tmp_path: Path) -> None:
    files = SegmentFiles(tmp_path, segment_bytes=64)
    files.recover()
    files.write([frame(b"one"), frame(b"two")])
    files.write([frame(b"three" * 20)])  # does not fit: rotates, the first is now sealed
    files.write([frame(b"four")])
    files.close()
    first, second, _ = files.segments()
    with open(files.path(first), "ab") as handle:
        handle.write(frame(b"torn")[:-2])  # what a crash mid-write leaves
    data = bytearray(files.path(second).read_bytes())
    data[len(HEADER) + 4] ^= 0x7F  # the length field: the frame points past its end
    files.path(second).write_bytes(bytes(data))

    reopened = SegmentFiles(tmp_path, segment_bytes=64)
    recovered = reopened.recover()
    batch = reopened.read(recovered.start, recovered.durable, max_records=None)
    assert batch.payloads == [b"one", b"two", b"four"]
    assert batch.quarantined == 2
    reopened.commit(batch.end)
    assert reopened.segments() == [recovered.durable.segment]
    reopened.close()


def test_segments_of_an_earlier_release_are_still_read(tmp_path: Path) -> None:
    legacy = b"".join(
        LEGACY_FRAME.pack(len(p), zlib.crc32(p)) + p for p in (b"old one", b"old two")
    )
    (tmp_path / "segment-000000000001.spool").write_bytes(legacy)
    files = SegmentFiles(tmp_path, segment_bytes=1 << 20)
    recovered = files.recover()
    assert recovered.pending_records == 2
    batch = files.read(recovered.start, recovered.durable, max_records=None)
    assert batch.payloads == [b"old one", b"old two"] and batch.corrupt == 0
    files.close()


def test_the_bound_holds_on_disk_within_one_record(tmp_path: Path) -> None:
    bound = 64 * 1024
    record = b"x" * 700

    async def body() -> None:
        spool = await AuditSpool.open(tmp_path, max_bytes=bound, segment_bytes=1 << 20)
        # Far more than fits, all at once: one group commit would otherwise take them all.
        results = await asyncio.gather(
            *(spool.append(record) for _ in range(400)), return_exceptions=True
        )
        accepted = [r for r in results if r is None]
        assert 0 < len(accepted) < 400
        assert all(isinstance(r, AuditSpoolFull) for r in results if r is not None)
        on_disk = sum(p.stat().st_size for p in tmp_path.glob("segment-*.spool"))
        assert on_disk == spool.disk_bytes <= bound + len(frame(record))
        await spool.close()

    run(body())


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
