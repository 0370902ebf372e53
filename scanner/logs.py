"""Logging for people and for SIEMs: stdlib logging, text or JSON lines, stderr and/or a file.

Modules log with `logging.getLogger(__name__)` and structured context in `extra=` (e.g.
``log.info("scan finished", extra={"event": "scan.finished", "scan_id": 7, "flagged": 3})``).
`setup_logging` decides where that goes:

* stderr, so cron mails and the journal get it; `quiet` limits stderr to errors (cron
  mails only when something is wrong),
* optionally a file (`--log-file`), at the configured level even when stderr is quiet; a
  `WatchedFileHandler`, so logrotate can move the file without a restart signal,
* as text for people or as one JSON object per line (`--log-format json`) for SIEM ingestion:
  fixed keys `ts` (UTC ISO 8601), `level`, `logger`, `msg`, then every `extra` field.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import stat
import sys
import time
from pathlib import Path
from typing import IO, Any

from camaudit.redact import mask_secrets

ROOT_LOGGERS = ("camaudit",)  # camaudit's package; third-party loggers stay at WARNING
NOISY = ("scapy", "aiohttp", "asyncio", "sqlalchemy", "alembic", "filelock")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on odd `extra` values (they become strings).

    Text fields are passed through `mask_secrets`: a message may quote a database URL, and
    log files travel to SIEMs and tickets.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_secrets(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and name not in out:
                out[name] = mask_secrets(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`2026-11-28T04:30:00Z warning camaudit.engine: msg key=value …` — greppable, one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD_ATTRS]
        return mask_secrets(line + (" " + " ".join(extras) if extras else ""))  # as JsonFormatter


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted, not when it was set up.

    Test runners and embedding code swap sys.stderr per invocation; a handler bound to an
    old, closed stream would turn every later record into a logging error.
    """

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def setup_logging(*, fmt: str = "text", level: str = "warning", log_file: str | os.PathLike[str] | None = None,
                  quiet: bool = False, stream: IO[str] | None = None) -> None:
    """Configure camaudit's loggers for this process (idempotent: replaces earlier handlers).

    Raises OSError when the log file cannot be opened; callers turn that into an
    actionable usage error (the path is in the exception).
    """
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    numeric = logging.getLevelName(level.upper())
    handlers: list[logging.Handler] = []

    to_stderr = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    to_stderr.setLevel(logging.ERROR if quiet else numeric)
    handlers.append(to_stderr)
    widened = None
    if log_file is not None:
        file_handler, widened = _file_handler(Path(log_file), numeric)
        handlers.append(file_handler)
    for handler in handlers:
        handler.setFormatter(formatter)

    for name in ROOT_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(numeric)
        logger.propagate = True  # host apps and test runners may listen on the root logger too
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    if widened is not None:
        logging.getLogger(__name__).warning(
            "log file %s was mode %04o, readable or writable by others; narrowed to %04o",
            log_file, widened, widened & LOG_FILE_MODE, extra={"event": "log.mode_narrowed"})


LOG_FILE_MODE = 0o640  # logs name addresses and devices of the audited network
LOG_DIR_MODE = 0o750


def _file_handler(path: Path, level: int) -> tuple[logging.Handler, int | None]:
    """Append-only, 0640 at most whatever the umask; returns the handler and the wider mode
    an existing log file had before it was narrowed (None when it was not).

    Only a regular file this user owns is chmodded: a log sent to a device or FIFO
    (`/dev/stderr`, a pipe to a collector) keeps its mode.
    """
    _make_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, LOG_FILE_MODE)
        os.fchmod(fd, LOG_FILE_MODE)  # ours, just created: the umask must not widen or narrow it
        was = None
    except FileExistsError:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        was = _narrow(fd)
    os.close(fd)
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    return handler, was


def _narrow(fd: int) -> int | None:
    """Drop the bits beyond 0640 of an open regular file we own; return its old mode if wider."""
    info = os.fstat(fd)
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or not mode & ~LOG_FILE_MODE:
        return None
    os.fchmod(fd, mode & LOG_FILE_MODE)
    return mode


def _make_dirs(directory: Path) -> None:
    """Create the missing directories of `directory` 0750, whatever the umask (existing ones are left alone)."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, LOG_DIR_MODE)
        except FileExistsError:
            continue  # made by a concurrent run: not ours to chmod
        os.chmod(new, LOG_DIR_MODE)
