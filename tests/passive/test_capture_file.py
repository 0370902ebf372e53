"""The capture reader on real files: pcap (both resolutions, both byte orders), pcapng, gzip, and
damaged or hostile files (truncated, absurd lengths, empty records, wrong magic, gzip bombs, a
sparse 2 GB file), all read in bounded memory and never with a traceback."""

from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from scapy.all import IP, UDP, Ether, raw, wrpcap, wrpcapng

from camaudit.cli import main
from camaudit.passive.capture_file import MAX_EMPTY_RUN, MAX_RECORD_BYTES, NotACapture, open_capture

SADP = (b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><DeviceType>138753</DeviceType>'
        b"<DeviceDescription>DS-2CD2043G2-I</DeviceDescription><MAC>c0-56-e3-00-00-10</MAC></ProbeMatch>")
FRAMES = [raw(Ether(src="c0:56:e3:00:00:10") / IP(src="198.18.0.10", dst="198.18.0.1")
              / UDP(sport=37020, dport=37020) / SADP)] + \
         [raw(Ether() / IP(src="198.18.0.9", dst="198.18.0.1") / UDP(sport=9, dport=9) / bytes(n)) for n in range(20)]


def read(path: Path) -> tuple[list[tuple[float, int, bytes]], object]:
    raw_file, cap = open_capture(path)
    with raw_file:
        return list(cap.records()), cap


def pcap_bytes(frames: list[bytes], endian: str = "<", nanos: bool = False, linktype: int = 1) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for i, frame in enumerate(frames):
        out += struct.pack(endian + "IIII", 1_700_000_000 + i, 500, len(frame), len(frame)) + frame
    return out


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_both_byte_orders_and_resolutions(tmp_path: Path, endian: str, nanos: bool) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(FRAMES, endian, nanos))
    records, cap = read(path)
    assert [r[2] for r in records] == FRAMES and cap.damage is None
    assert records[1][0] == pytest.approx(1_700_000_001 + 500 * (1e-9 if nanos else 1e-6))


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, 9])
def test_pcapng_hand_written_and_from_scapy(tmp_path: Path, pcapng, endian: str, tsresol: int | None) -> None:
    path = tmp_path / "c.pcapng"
    path.write_bytes(pcapng(FRAMES, endian, tsresol))
    records, cap = read(path)
    assert cap.format == "pcapng" and [r[2] for r in records] == FRAMES and cap.damage is None
    assert records[2][0] == pytest.approx(1_700_000_002)
    wrpcapng(str(tmp_path / "s.pcapng"), [Ether(f) for f in FRAMES])
    assert [r[2] for r in read(tmp_path / "s.pcapng")[0]] == FRAMES


def test_gzip_is_told_by_content_not_name(tmp_path: Path, pcapng) -> None:
    path = tmp_path / "capture.bin"   # no .gz, no .pcap
    path.write_bytes(gzip.compress(pcapng(FRAMES)))
    records, cap = read(path)
    assert cap.compressed and cap.format == "pcapng" and len(records) == len(FRAMES)


# mtime=0 and fixed ids: collected identically by every xdist worker (a gzip header carries the time)
@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"<?xml version='1.0'?><nmaprun>",
                                     gzip.compress(b"hello" * 10, mtime=0), b"\x1f\x8b\x08\x00garbage"],
                         ids=["empty", "zeros", "nmap-xml", "gzip-of-text", "gzip-garbage"])
def test_wrong_magic_is_refused_before_any_use(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not.pcap"
    path.write_bytes(content)
    with pytest.raises(NotACapture):
        open_capture(path)


def test_a_truncated_file_keeps_what_was_read(tmp_path: Path) -> None:
    data = pcap_bytes(FRAMES)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-10])                       # the last record ends early
    records, cap = read(path)
    assert len(records) == len(FRAMES) - 1
    assert cap.damage is not None and "ends inside a record" in cap.damage
    path.write_bytes(gzip.compress(data)[:-30])        # the compressed stream is cut
    records, cap = read(path)
    assert cap.damage is not None and 0 < len(records) < len(FRAMES)


def test_absurd_lengths_stop_the_file(tmp_path: Path, pcapng) -> None:
    data = pcap_bytes(FRAMES[:3]) + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 100
    path = tmp_path / "absurd.pcap"
    path.write_bytes(data)
    records, cap = read(path)
    assert len(records) == 3 and str(MAX_RECORD_BYTES) in (cap.damage or "")
    ng = pcapng(FRAMES[:2]) + struct.pack("<II", 6, 0x7FFFFFF0) + b"x" * 100
    path.write_bytes(ng)
    records, cap = read(path)
    assert len(records) == 2 and "claims" in (cap.damage or "")
    odd = pcapng(FRAMES[:2]) + struct.pack("<II", 6, 13) + b"x" * 20   # not a multiple of 4
    path.write_bytes(odd)
    assert len(read(path)[0]) == 2


def test_zero_length_records_and_unknown_interfaces_are_skipped(tmp_path: Path, pcapng) -> None:
    data = pcap_bytes(FRAMES[:1]) + struct.pack("<IIII", 1, 0, 0, 0) * 5 + pcap_bytes(FRAMES[1:2])[24:]
    path = tmp_path / "zero.pcap"
    path.write_bytes(data)
    records, cap = read(path)
    assert len(records) == 2 and cap.damage is None
    ng = pcapng(FRAMES[:1])
    ng += struct.pack("<II", 6, 32 + 12) + struct.pack("<IIIII", 5, 0, 0, 12, 12) + bytes(12) + struct.pack("<I", 44)
    path.write_bytes(ng)
    records, cap = read(path)
    assert len(records) == 1 and cap.skipped == 1


def test_a_sparse_2gb_file_ends_quickly_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "sparse.pcap"
    path.write_bytes(pcap_bytes(FRAMES[:2]))
    with path.open("r+b") as f:
        f.truncate(2 << 30)   # 2 GiB of zeros after two packets: a pre-allocated or damaged file
    tracemalloc.start()
    try:
        records, cap = read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(records) == 2 and f"{MAX_EMPTY_RUN} empty records" in (cap.damage or "")
    assert peak < 16 << 20


def test_a_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    frame = FRAMES[1] + bytes(60_000)   # large zero-filled records: compress about 1000:1
    record = struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame
    count = (64 << 20) // len(record)   # 64 MiB once inflated, well under 1 MiB compressed
    path = tmp_path / "bomb.pcap.gz"
    path.write_bytes(gzip.compress(pcap_bytes([]) + record * count, compresslevel=9))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        raw_file, cap = open_capture(path)
        with raw_file:
            n = sum(1 for _ in cap.records())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == count and cap.damage is None
    assert peak < 16 << 20


# --- the command ---------------------------------------------------------------------------

def run(*args: str) -> object:
    return CliRunner().invoke(main, ["import", "pcap", *args])


def test_import_pcap_writes_observations_with_provenance(tmp_path: Path) -> None:
    path, out = tmp_path / "c.pcap", tmp_path / "out.jsonl"
    wrpcap(str(path), [Ether(f) for f in FRAMES])
    result = run(str(path), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    [line] = [json.loads(line) for line in out.read_text().splitlines()]
    assert line["source"] == "sadp" and line["ip"] == "198.18.0.10" and line["tool"].endswith("import pcap")
    assert "1 observations from 21 frames" in result.stderr


def test_import_pcap_exit_codes(tmp_path: Path) -> None:
    good, bad, cut, out = tmp_path / "g.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap", tmp_path / "o.jsonl"
    good.write_bytes(pcap_bytes(FRAMES))
    bad.write_text("not a capture\n")
    cut.write_bytes(pcap_bytes(FRAMES)[:-5])
    damaged = run(str(cut), "-o", str(out))
    assert damaged.exit_code == 3 and "stopped reading" in damaged.stderr and "Traceback" not in damaged.stderr
    assert out.read_text().count("\n") == 1   # the SADP answer before the damage was kept
    mixed = run(str(bad), str(good), str(tmp_path / "missing.pcap"), "-o", str(out))
    assert mixed.exit_code == 2
    assert "not a pcap or pcapng capture" in mixed.stderr and "cannot open it" in mixed.stderr
    assert out.read_text().count("\n") == 1   # the good file was still read
