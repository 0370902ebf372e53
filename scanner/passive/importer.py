"""`camaudit import pcap`: capture files through the decoders into observation JSON Lines.

Files are read one after another through one `FrameDecoder`, so an observation repeated across
files is written once. A file that is not a capture, or cannot be opened, is reported and the
others are still read; a damaged file keeps what was read before the damage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from camaudit.observation import write_jsonl
from camaudit.passive.capture_file import NotACapture, open_capture
from camaudit.passive.decode import DecodeStats, FrameDecoder
from camaudit.passive.decoders.base import Decoder


@dataclass(slots=True)
class FileResult:
    """What became of one named file: its format, packets read, and what stopped it, if anything."""

    path: str
    format: str = ""
    packets: int = 0
    skipped: int = 0
    unusable: str | None = None   # not read at all (not a capture, no permission)
    damage: str | None = None     # read up to a fault


@dataclass(slots=True)
class ImportResult:
    files: list[FileResult] = field(default_factory=list)
    written: int = 0
    stats: DecodeStats = field(default_factory=DecodeStats)
    decoders: list[Decoder] = field(default_factory=list)   # their `unreadable` counts


def import_captures(paths: Sequence[str | Path], out: IO[str], tool: str | None,
                    decoder: FrameDecoder | None = None,
                    on_file: Callable[[FileResult], None] | None = None) -> ImportResult:
    """Decode every file's frames and write the observations to `out` as they are found."""
    decoder = decoder or FrameDecoder()
    result = ImportResult(stats=decoder.stats, decoders=decoder.decoders)
    for path in paths:
        done = FileResult(str(path))
        result.files.append(done)
        try:
            raw, capture = open_capture(path)
        except NotACapture as exc:
            done.unusable = str(exc)
        except OSError as exc:
            done.unusable = f"cannot open it: {exc.strerror or exc}"
        else:
            with raw:
                done.format = f"{capture.format}{' (gzip)' if capture.compressed else ''}"
                feed = decoder.feed
                for ts, linktype, frame in capture.records():
                    found = feed(ts, frame, linktype)
                    if found:
                        result.written += write_jsonl(found, out, tool)
                done.packets, done.skipped, done.damage = capture.packets, capture.skipped, capture.damage
        if on_file is not None:
            on_file(done)
    result.written += write_jsonl(decoder.finish(), out, tool)
    return result
