"""Walking the frames of an audit spool segment from outside, to corrupt one of them.

The layout is read from `gateway.persistence.audit.segments` (HEADER, MARKER, FRAME):
a segment starts with HEADER, then frames `<MARKER><u32 length><u32 crc32><payload>`.
`frame_layout()` is None while the segments module has no markers (the layout before
resynchronisation existed).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from gateway.persistence.audit import segments


@dataclass(frozen=True)
class Frame:
    offset: int
    """Where the frame starts in its segment file."""
    payload_offset: int
    payload: bytes

    @property
    def audit_id(self) -> str:
        return str(json.loads(self.payload)["audit_id"])


@dataclass(frozen=True)
class FrameLayout:
    header: bytes
    marker: bytes
    prefix: int
    """Bytes before the payload: marker, length, checksum."""

    def frames(self, data: bytes) -> list[Frame]:
        """Every whole frame of a segment's bytes, in order (the file must be intact)."""
        if not data.startswith(self.header):
            raise AssertionError("segment does not start with the format header")
        found: list[Frame] = []
        offset = len(self.header)
        while offset + self.prefix <= len(data):
            if data[offset : offset + len(self.marker)] != self.marker:
                raise AssertionError(f"no frame marker at offset {offset}")
            (length,) = struct.unpack_from("<I", data, offset + len(self.marker))
            start = offset + self.prefix
            if start + length > len(data):
                break  # a torn tail
            found.append(Frame(offset, start, data[start : start + length]))
            offset = start + length
        return found


def frame_layout() -> FrameLayout | None:
    header = getattr(segments, "HEADER", None)
    marker = getattr(segments, "MARKER", None)
    frame = getattr(segments, "FRAME", None)
    if not isinstance(header, bytes) or not isinstance(marker, bytes) or frame is None:
        return None
    # FRAME packs the marker too (`<4sII`), or only length and checksum (`<II`).
    prefix = frame.size if frame.size > 8 else len(marker) + frame.size
    return FrameLayout(header, marker, prefix)


def segment_files(instance_dir: Path) -> list[Path]:
    return sorted(instance_dir.glob("segment-*.spool"))


def corrupt_payload(path: Path, frame: Frame) -> None:
    """Flip one byte in the middle of `frame`'s payload (its checksum no longer holds)."""
    with path.open("r+b") as handle:
        position = frame.payload_offset + len(frame.payload) // 2
        handle.seek(position)
        byte = handle.read(1)
        handle.seek(position)
        handle.write(bytes([byte[0] ^ 0x5A]))
