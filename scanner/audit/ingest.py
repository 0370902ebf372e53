"""Observation files stored as scans: `camaudit ingest FILE… --site NAME`.

A file of observations (docs/observations.md) — `scan --no-store --observations-out`,
`camaudit import nmap`, another site's scan — takes the way a live scan's observations take:
`recorded_scan` opens the row, `record_observations` identifies and stores, the row's close
counts findings and writes the configured reports. The row also says where the observations
came from (`ScanSource`: file name, SHA-256, the tool that wrote it when the lines say, the
span of their `at` times).

The file is read twice, as a stream both times: once for its SHA-256 (a file already ingested
into a complete scan is not ingested again) and its first line's format version and tool,
once for its observations, through `read_jsonl` (bounded lines; a bad line is skipped and
named, the rest is stored). Memory grows with the devices of the file, not its lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camaudit.audit.pipeline import record_observations, recorded_scan
from camaudit.observation import FORMAT_VERSION, MAX_LINE_BYTES, Observation, ReadError, loads_json, read_jsonl

if TYPE_CHECKING:
    from camaudit.config import Config
    from camaudit.db.store import Store
    from camaudit.identify import Identification
    from camaudit.policy import PolicySet

HASH_CHUNK = 1 << 20
HOW_TO_WRITE = "write it again with `camaudit scan --observations-out` or `camaudit import nmap`"


class IngestRefused(Exception):
    """The file cannot be ingested (unreadable, another format version, no observation);
    the message names the file (and line) and what to do. Nothing of it was stored as a
    complete scan."""


@dataclass
class IngestResult:
    """What ingesting one file did (`already`: the earlier scan of the same file; then nothing)."""

    file: str
    sha256: str
    scan_id: int | None = None
    already: int | None = None
    observations: int = 0
    devices: int = 0
    flagged: int = 0
    open_flagged: int = 0
    skipped: list[ReadError] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)


@dataclass
class _Head:
    """The file's SHA-256 and its first line's facts (line number, format version, tool)."""

    sha256: str
    line: int = 0
    version: Any = FORMAT_VERSION
    tool: str | None = None


def ingest_file(store: Store, config: Config, path: Path, policies: PolicySet,
                warn: Callable[[Iterable[str]], None]) -> IngestResult:
    """Store the observations of `path` as one complete scan of `config`'s site.

    Raises IngestRefused (exit 2 for the caller) or what the store raises.
    """
    head = _survey(path)
    _check_version(path, head.line, head.version)
    result = IngestResult(str(path), head.sha256, already=store.ingested_scan(head.sha256))
    if result.already is not None:
        return result
    span: list[str] = []
    with _open_text(path) as stream, recorded_scan(store, config, [], policies) as rec:
        result.scan_id = rec.scan_id
        observations = _checked(path, read_jsonl(stream, result.skipped), result.skipped, span)
        record_observations(store, rec.scan_id, _counted(observations, result), policies, covered=[],
                            warn=warn, on_identification=lambda ident: _tally(ident, result))
        if not result.observations:
            raise IngestRefused(f"{path}: no usable observation; expected JSON Lines as in docs/observations.md")
        store.set_source(rec.scan_id, _source(path, head, span))  # type: ignore[arg-type]
    result.open_flagged = rec.open_flagged or 0
    result.reports = rec.reports
    return result


def _survey(path: Path) -> _Head:
    """One pass over the bytes: the SHA-256, and the first non-blank line's version and tool."""
    digest = hashlib.sha256()
    head: _Head | None = None
    first, lineno = b"", 0
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(HASH_CHUNK):
                digest.update(chunk)
                if head is None:
                    first, lineno, head = _first_line(first + chunk, lineno)
            if head is None and first.strip():
                _, _, head = _first_line(first + b"\n", lineno)
    except OSError as exc:
        raise IngestRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    found = head or _Head("")
    found.sha256 = digest.hexdigest()
    return found


def _first_line(buffer: bytes, lineno: int) -> tuple[bytes, int, _Head | None]:
    """Look for the first non-blank line in `buffer` (the bytes after `lineno` lines): its
    facts once complete, else the bytes still to look at (a line longer than the format
    allows is the reader's to report, so it ends the search)."""
    while b"\n" in buffer:
        line, buffer = buffer.split(b"\n", 1)
        lineno += 1
        if line.strip():
            return b"", lineno, _facts(line, lineno)
    if len(buffer) > MAX_LINE_BYTES:
        return b"", lineno, _Head("", lineno + 1)
    return buffer, lineno, None


def _facts(line: bytes, lineno: int) -> _Head:
    try:
        obj = loads_json(line)
    except (ValueError, TypeError):
        return _Head("", lineno)  # not JSON: the reader names it as a skipped line
    if not isinstance(obj, dict):
        return _Head("", lineno)
    tool = obj.get("tool")
    return _Head("", lineno, obj.get("v", FORMAT_VERSION), tool if isinstance(tool, str) else None)


def _check_version(path: Path, line: int, version: Any) -> None:
    if version == FORMAT_VERSION:
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise IngestRefused(f"{path} line {line}: observation format version {version} is newer than this "
                            f"camaudit reads ({FORMAT_VERSION}); ingest it with a newer camaudit")
    raise IngestRefused(f"{path} line {line}: observation format version {version!r} is not one this "
                        f"camaudit reads ({FORMAT_VERSION}); {HOW_TO_WRITE}")


def _checked(path: Path, observations: Iterator[Observation], skipped: list[ReadError],
             span: list[str]) -> Iterator[Observation]:
    """The observations, stopping at a line of another format version (a file whose version
    changes part-way is refused, its scan row marked failed); `span` keeps the earliest and
    latest `at` (ISO 8601 UTC strings of one form: they sort as the times do)."""
    seen = 0
    for obs in observations:
        if len(skipped) > seen:
            _stop_at_version(path, skipped, seen)
            seen = len(skipped)
        if obs.at:
            if not span:
                span.extend((obs.at, obs.at))
            elif obs.at < span[0]:
                span[0] = obs.at
            elif obs.at > span[1]:
                span[1] = obs.at
        yield obs
    _stop_at_version(path, skipped, seen)


def _stop_at_version(path: Path, skipped: list[ReadError], start: int) -> None:
    for error in skipped[start:]:
        if error.version is not None:
            _check_version(path, error.line, error.version)


def _counted(observations: Iterator[Observation], result: IngestResult) -> Iterator[Observation]:
    for obs in observations:
        result.observations += 1
        yield obs


def _tally(ident: Identification, result: IngestResult) -> None:
    result.devices += 1
    result.flagged += bool(ident.flagged)


def _source(path: Path, head: _Head, span: list[str]) -> Any:
    from camaudit.db.record import ScanSource

    times = [datetime.fromisoformat(t) for t in span] or [None, None]
    return ScanSource(file=str(path), sha256=head.sha256, tool=head.tool,
                      observed_from=times[0], observed_to=times[1])


def _open_text(path: Path) -> Any:
    try:
        return path.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise IngestRefused(f"cannot read {path}: {exc.strerror or exc}") from None
