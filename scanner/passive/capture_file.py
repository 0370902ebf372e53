"""Capture files (pcap, pcapng, either gzip-compressed) read as a stream of frames, bounded.

Formats: pcap (tcpdump.org/manpages/pcap-savefile.5.html; microsecond and nanosecond magic,
both byte orders) and pcapng (IETF draft-ietf-opsawg-pcapng: Section Header, Interface
Description, Enhanced/Simple/obsolete Packet blocks; other blocks are skipped). The format is
told by the first bytes, never by the file name; gzip (RFC 1952 magic 1f 8b) is undone while
reading.

Hand-written with `struct`: the record layouts are a few fixed headers, and reading a 1 MiB
chunk at a time and slicing records out of it is faster than a library call per packet
(docs/performance.md). Everything is bounded while reading: a record or block longer than
`MAX_RECORD_BYTES` / `MAX_BLOCK_BYTES` ends the file (a length that large means the file is
damaged, and nothing after it can be trusted to start where the length says), as does a long
run of empty records (zero-filled space: a sparse or pre-allocated file) and a file that ends
inside a record. What was read before stays read; `damage` says what stopped it and where.
Memory is one chunk plus one record, whatever the file's size or compression ratio.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
MAX_RECORD_BYTES = 262_144       # libpcap's largest snapshot length (MAXIMUM_SNAPLEN)
MAX_BLOCK_BYTES = 1 << 20        # a pcapng block: one packet plus options, or a section header
MAX_INTERFACES = 4096            # interface descriptions remembered per pcapng section
MAX_EMPTY_RUN = 1024             # consecutive empty records taken as zero-filled space, not packets
GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}


class NotACapture(ValueError):
    """The file is not a capture this reader knows (nothing of it was used)."""


class _Truncated(Exception):
    """The data ended inside a header or a record."""


class _Stream:
    """Exact-size reads over a binary stream, one chunk buffered; counts the bytes consumed."""

    def __init__(self, raw: BinaryIO) -> None:
        # read1: one decompression step at a time, so a gzip stream cut short loses only the
        # step that hit the cut (read() would drop everything decompressed in the same call)
        self.read = getattr(raw, "read1", raw.read)
        self.buf = b""
        self.pos = 0
        self.offset = 0   # bytes consumed before `buf`

    def where(self) -> int:
        return self.offset + self.pos

    def fill(self, need: int) -> bool:
        """Make `need` bytes available at `pos`; False when the data ends first (none left: EOF)."""
        while len(self.buf) - self.pos < need:
            more = self.read(max(CHUNK, need))
            if not more:
                return False
            self.offset += self.pos
            self.buf = self.buf[self.pos:] + more
            self.pos = 0
        return True

    def take(self, n: int) -> bytes:
        if not self.fill(n):
            raise _Truncated
        start = self.pos
        self.pos += n
        return self.buf[start:self.pos]

    def at_end(self) -> bool:
        return not self.fill(1)


class Capture:
    """One capture file's frames; `records()` yields (timestamp, link type, frame bytes).

    Counters after reading: `packets`, `skipped` (records without a usable interface), and
    `damage` (None when the file was read to its end without fault).
    """

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.name = name
        head = raw.read(2)
        self.compressed = head == GZIP_MAGIC
        if self.compressed:
            self._in = _Stream(gzip.GzipFile(fileobj=_Prefixed(head, raw), mode="rb"))   # type: ignore[arg-type]
        else:
            self._in = _Stream(_Prefixed(head, raw))   # type: ignore[arg-type]
        self.packets = 0
        self.skipped = 0
        self.damage: str | None = None
        try:
            magic = self._in.take(4) if self._in.fill(4) else b""
        except (OSError, EOFError, zlib.error) as exc:
            raise NotACapture(f"unreadable gzip data ({exc})") from None
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            self._endian, self._unit = PCAP_MAGICS[magic]
        elif magic == b"\x0a\x0d\x0d\x0a":
            self.format = "pcapng"
        else:
            shown = magic.hex() or "nothing"
            raise NotACapture(f"not a pcap or pcapng capture (first bytes {shown}); "
                              "write captures with tcpdump -w or save them as pcap/pcapng")

    def records(self) -> Iterator[tuple[float, int, bytes]]:
        """The frames in file order; stops at the first damage (kept in `damage`)."""
        try:
            yield from (self._pcap() if self.format == "pcap" else self._pcapng())
        except _Truncated:
            self._damaged("the file ends inside a record (was the capture still being written?)")
        except (OSError, EOFError, zlib.error) as exc:   # gzip.BadGzipFile is an OSError
            self._damaged(f"the compressed data is damaged ({exc})")

    def _damaged(self, what: str) -> None:
        self.damage = f"{what}, at byte {self._in.where()} after {self.packets} packets"

    def _pcap(self) -> Iterator[tuple[float, int, bytes]]:
        header = struct.Struct(self._endian + "HHiIII")
        _, _, _, _, _snaplen, linktype = header.unpack(self._in.take(header.size))
        linktype &= 0x0FFFFFFF   # the upper bits hold the FCS length (pcap-savefile(5))
        record = struct.Struct(self._endian + "IIII")
        unit, stream, empty = self._unit, self._in, 0
        unpack = record.unpack_from
        while True:
            # the hot loop of an import: records are sliced straight out of the chunk buffer,
            # and the stream is asked for more only when a record crosses the chunk's end
            buf, pos = stream.buf, stream.pos
            if len(buf) - pos < 16:
                if stream.at_end():
                    return
                if not stream.fill(16):
                    raise _Truncated   # a record header cut by the end of the file
                buf, pos = stream.buf, stream.pos
            sec, frac, incl, _orig = unpack(buf, pos)
            if incl > MAX_RECORD_BYTES:
                self._damaged(f"a record claims {incl} bytes (no capture holds more than {MAX_RECORD_BYTES})")
                return
            if not incl:
                stream.pos = pos + 16
                empty += 1
                if empty >= MAX_EMPTY_RUN:
                    self._damaged(f"{MAX_EMPTY_RUN} empty records in a row (zero-filled space, not packets)")
                    return
                continue
            empty = 0
            end = pos + 16 + incl
            if end <= len(buf):
                frame = buf[pos + 16:end]
                stream.pos = end
            else:
                stream.pos = pos + 16
                frame = stream.take(incl)
            self.packets += 1
            yield sec + frac * unit, linktype, frame

    def _pcapng(self) -> Iterator[tuple[float, int, bytes]]:
        stream = self._in
        stream.pos -= 4   # the section header's type was read as the magic
        endian = "<"
        interfaces: list[tuple[int, float, int]] = []   # (link type, seconds per tick, snaplen)
        empty = 0
        while not stream.at_end():
            head = stream.take(8)
            block_type = struct.unpack_from(endian + "I", head)[0]   # the section header's type reads the same either way
            if block_type == PCAPNG_SHB:
                bom = stream.take(4)
                endian = "<" if bom == PCAPNG_BOM.to_bytes(4, "little") else ">" if bom == PCAPNG_BOM.to_bytes(4, "big") else ""
                if not endian:
                    self._damaged("a pcapng section header without its byte-order magic")
                    return
                stream.pos -= 4
                interfaces = []
            length = struct.unpack_from(endian + "I", head, 4)[0]
            if length < 12 or length % 4 or length > MAX_BLOCK_BYTES:
                stream.pos -= 8
                self._damaged(f"a pcapng block (type {block_type:#x}) claims {length} bytes "
                              f"(a block is 12 to {MAX_BLOCK_BYTES} bytes, a multiple of 4)")
                return
            body = stream.take(length - 8)[:-4]
            frame = self._block(block_type, body, endian, interfaces)
            if frame is None:
                continue
            if not frame[2]:
                empty += 1
                if empty >= MAX_EMPTY_RUN:
                    self._damaged(f"{MAX_EMPTY_RUN} empty packet blocks in a row")
                    return
                continue
            empty = 0
            self.packets += 1
            yield frame

    def _block(self, block_type: int, body: bytes, endian: str,
               interfaces: list[tuple[int, float, int]]) -> tuple[float, int, bytes] | None:
        """The frame of a packet block (None for other blocks); records interface blocks."""
        try:
            if block_type == 1:   # Interface Description
                linktype, _, snaplen = struct.unpack_from(endian + "HHI", body)
                if len(interfaces) < MAX_INTERFACES:
                    interfaces.append((linktype, _tsresol(body[8:], endian), snaplen))
                return None
            if block_type == 6:   # Enhanced Packet
                iface, hi, lo, caplen, _ = struct.unpack_from(endian + "IIIII", body)
                data_at = 20
            elif block_type == 2:   # obsolete Packet block
                iface, _, hi, lo, caplen, _ = struct.unpack_from(endian + "HHIIII", body)
                data_at = 20
            elif block_type == 3:   # Simple Packet: interface 0, no timestamp
                iface, hi, lo, data_at = 0, 0, 0, 4
                caplen = min(struct.unpack_from(endian + "I", body)[0], len(body) - 4)
                if interfaces and interfaces[0][2]:
                    caplen = min(caplen, interfaces[0][2])
            else:
                return None
        except struct.error:   # a block too short for its own header
            self.skipped += 1
            return None
        if iface >= len(interfaces) or caplen > len(body) - data_at:
            self.skipped += 1
            return None
        linktype, tick, _ = interfaces[iface]
        return ((hi << 32) | lo) * tick, linktype, body[data_at:data_at + caplen]


def _tsresol(options: bytes, endian: str) -> float:
    """Seconds per timestamp unit from an interface's `if_tsresol` option (default microseconds)."""
    pos = 0
    for _ in range(256):   # options are few; a long list is not worth walking
        if pos + 4 > len(options):
            break
        code, length = struct.unpack_from(endian + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[pos + 4]
            exponent = value & 0x7F
            return 2.0 ** -exponent if value & 0x80 else 10.0 ** -min(exponent, 30)
        pos += 4 + (length + 3) // 4 * 4
    return 1e-6


class _Prefixed:
    """A binary stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self.head = head
        self.raw = raw

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head[:n] if n >= 0 else self.head, self.head[n:] if n >= 0 else b""
            return out
        return self.raw.read(n)


def open_capture(path: str | Path) -> tuple[BinaryIO, Capture]:
    """The open file and its Capture; NotACapture or OSError when it cannot be read as one.
    The caller closes the file."""
    raw = open(path, "rb", buffering=0)   # noqa: SIM115 - returned to the caller, who closes it
    try:
        return raw, Capture(raw, str(path))
    except BaseException:
        raw.close()
        raise
