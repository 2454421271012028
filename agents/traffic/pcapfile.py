"""Capture files: classic pcap (both byte orders, micro- and nanosecond) and pcapng, without scapy.

The file is memory-mapped and records are sliced at their offsets, so reading costs one struct unpack
per packet. A capture cut short (a truncated last record) or a damaged pcapng block ends the iteration
where it is, like `tshark -r`: the packets before it are kept and `Capture.damage` says where and why
(`traffic analyze` prints that as one warning line and exits 2). `open_capture`
also exposes a classic pcap's layout (mapped bytes, record offset, byte order, time unit) so the offline
analyzer can walk records itself and read headers in place, without a bytes object per packet.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from govwatch.errors import GovwatchError

from .packets import LINK_TYPES

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

Record = tuple[float, int, bytes]   # (timestamp seconds, link type, frame bytes)


class CaptureError(GovwatchError):
    """The file is not a capture we can read; the message names the file and the reason."""


class Capture:
    """An open capture file. `records()` yields every packet; for a classic pcap (`classic` true),
    `pos` is the offset of the next record not yet yielded, so a caller may carry on from there itself."""

    def __init__(self, data: mmap.mmap, path: str) -> None:
        self.data, self.path, self.pos = data, path, 24
        self.damage: str | None = None   # why reading stopped before the end of the file, if it did
        magic = data[:4]
        self.classic = magic in PCAP_MAGICS
        if self.classic:
            self.order, self.unit = PCAP_MAGICS[magic]
            self.linktype = struct.unpack_from(self.order + "I", data, 20)[0] & 0x0FFFFFFF
            _check_link(path, self.linktype)
        elif magic != PCAPNG_SHB:
            raise CaptureError(f"{path}: not a pcap or pcapng capture (magic {magic.hex()})")

    def records(self) -> Iterator[Record]:
        if not self.classic:
            yield from _pcapng(self.data, self.path, self)
            return
        data, linktype, unit = self.data, self.linktype, self.unit
        record = struct.Struct(self.order + "IIII").unpack_from
        pos, size = self.pos, len(data)
        while pos + 16 <= size:
            sec, frac, caplen, _orig = record(data, pos)
            start = pos + 16
            if start + caplen > size:
                self.cut_short(pos)
                break
            pos = self.pos = start + caplen
            yield sec + frac * unit, linktype, data[start:pos]
        if 0 < size - pos < 16:
            self.cut_short(pos)

    def cut_short(self, offset: int) -> None:
        """The classic pcap ends inside a record (a capture stopped while writing)."""
        self.damage = f"{self.path}: capture cut short in the middle of a packet at byte {offset}"


@contextmanager
def open_capture(path: str) -> Iterator[Capture]:
    """Map `path` and recognise its format; CaptureError (naming the file) when it is not a capture."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 24:
            raise CaptureError(f"{path}: not a pcap or pcapng capture (file too short)")
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield Capture(data, path)
        finally:
            data.close()


def read_capture(path: str) -> Iterator[Record]:
    """Yield (ts, linktype, frame) for every packet of a pcap or pcapng file."""
    with open_capture(path) as capture:
        yield from capture.records()


def _check_link(path: str, linktype: int) -> None:
    if linktype not in LINK_TYPES:
        raise CaptureError(f"{path}: link type {linktype} not supported (supported: ethernet, linux-sll, "
                           "linux-sll2, raw IP, null/loopback)")


class _Section:
    """pcapng state that a Section Header Block resets: byte order and the interfaces seen so far."""

    def __init__(self, order: str) -> None:
        self.order = order
        self.links: list[int] = []
        self.units: list[float] = []
        self.offsets: list[float] = []


# pcapng block type -> smallest valid total length (header, fixed fields, trailer)
MIN_BLOCK = {1: 20, 2: 32, 3: 16, 6: 32}


def _pcapng(data: mmap.mmap, path: str, capture: Capture) -> Iterator[Record]:
    """Walk the blocks; a damaged or cut-short block stops the walk (see `Capture.damage`)."""
    pos, size, section = 0, len(data), None
    while pos < size:
        problem = _block_problem(data, pos, size, section)
        if problem is not None:
            if pos == 0:
                raise CaptureError(f"{path}: damaged pcapng section header ({problem})")
            capture.damage = f"{path}: damaged pcapng block at byte {pos}: {problem}"
            return
        if data[pos:pos + 4] == PCAPNG_SHB:
            section = _Section("<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">")
        assert section is not None   # _block_problem refuses a first block that is not a section header
        btype, blen = struct.unpack_from(section.order + "II", data, pos)
        if btype == 1:
            _interface(data, pos, blen, section, path)
        elif btype in (6, 2, 3):
            record = _packet(data, pos, btype, blen, section)
            if record is not None:
                yield record
        pos += blen


def _block_problem(data: mmap.mmap, pos: int, size: int, section: _Section | None) -> str | None:
    """Why the block at `pos` cannot be read (None when it can): lengths are checked before any field."""
    if pos + 12 > size:
        return f"{size - pos} bytes left, less than a block header"
    shb = data[pos:pos + 4] == PCAPNG_SHB
    if shb:
        if data[pos + 8:pos + 12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
            return "section header with an unknown byte-order magic"
        order = "<" if data[pos + 8] == 0x4D else ">"
    elif section is None:
        return "the file does not start with a section header"
    else:
        order = section.order
    btype, blen = struct.unpack_from(order + "II", data, pos)
    if blen % 4 or blen < (28 if shb else MIN_BLOCK.get(btype, 12)):
        return f"block type {btype:#x} with total length {blen}"
    if pos + blen > size:
        return f"block of {blen} bytes cut short ({size - pos} bytes left)"
    if struct.unpack_from(order + "I", data, pos + blen - 4)[0] != blen:
        return f"block type {btype:#x}: trailing length differs from the leading one ({blen})"
    return None


def _interface(data: mmap.mmap, pos: int, blen: int, section: _Section, path: str) -> None:
    order = section.order
    linktype = struct.unpack_from(order + "H", data, pos + 8)[0]
    _check_link(path, linktype)
    unit, offset = 1e-6, 0.0
    opt, end = pos + 16, pos + blen - 4
    while opt + 4 <= end:
        code, length = struct.unpack_from(order + "HH", data, opt)
        if code == 0 or opt + 4 + length > end:
            break
        if code == 9 and length >= 1:  # if_tsresol: 10^-n, or 2^-n with the top bit set
            value = data[opt + 4]
            unit = 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value
        elif code == 14 and length == 8:  # if_tsoffset: seconds to add
            offset = float(struct.unpack_from(order + "q", data, opt + 4)[0])
        opt += 4 + ((length + 3) & ~3)
    section.links.append(linktype)
    section.units.append(unit)
    section.offsets.append(offset)


def _packet(data: mmap.mmap, pos: int, btype: int, blen: int, section: _Section) -> Record | None:
    """One packet block (its length already checked against its fixed fields); the frame never reaches
    past the block."""
    order = section.order
    if btype == 3:  # simple packet block: first interface, no timestamp
        if not section.links:
            return None
        orig = struct.unpack_from(order + "I", data, pos + 8)[0]
        caplen = min(orig, blen - 16)
        return 0.0, section.links[0], data[pos + 12:pos + 12 + caplen]
    if btype == 6:
        iface, high, low, caplen = struct.unpack_from(order + "IIII", data, pos + 8)
    else:  # obsolete packet block: 16-bit interface id and drops count
        iface, _drops, high, low, caplen = struct.unpack_from(order + "HHIII", data, pos + 8)
    if iface >= len(section.links):
        return None
    ts = ((high << 32) | low) * section.units[iface] + section.offsets[iface]
    start = pos + 28
    return ts, section.links[iface], data[start:start + min(caplen, blen - 32)]
