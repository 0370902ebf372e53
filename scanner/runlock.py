"""One scan at a time per database, and scans that end cleanly when stopped.

Cron and systemd timers start scans whether or not the previous one finished. Two scans
writing the same inventory would interleave "not seen since" bookkeeping, so a scan holds an
exclusive lock file next to the database (`<db file>.lock`; for a server database such as
PostgreSQL, a file in the user state dir keyed by the URL). The lock is a kernel `flock`
(filelock): it vanishes with the process, so a `kill -9` never leaves a stale lock behind.
A second scan does not wait: it raises `LockHeld` and the CLI exits 75 (EX_TEMPFAIL,
"try again later").

`stop_signals()` turns SIGTERM (systemctl stop, a cron timeout) and SIGINT (Ctrl-C) into
`ScanInterrupted`, so the scan command can mark its scan row `interrupted`, keep what was
stored, release the lock and exit — instead of dying between two writes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import filelock
import platformdirs

MAX_HOLDER_BYTES = 512


class LockHeld(Exception):
    """Another process holds the scan lock of this database."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        super().__init__(
            f"another scan holds the lock {path} ({holder}); it will be released when that "
            "scan ends — try again later, or check it with `ps` if it seems stuck")


class ScanInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived during a scan.

    A KeyboardInterrupt subclass on purpose: probes catch `Exception` to record network
    failures, and asyncio re-raises KeyboardInterrupt out of the event loop at once, so the
    stop request can never be swallowed as "a probe error".
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def lock_path_for(db_url: str) -> Path:
    """Where the scan lock of this database lives.

    A SQLite file gets `<file>.lock` beside it (same directory, same permissions story, found
    by an operator looking at the database). Any other URL gets a file in the state dir named
    by a hash of the URL without its password, so two sites' scanners on one host writing to
    different central databases don't block each other.
    """
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).expanduser().resolve().with_name(Path(url.database).name + ".lock")
    safe = url.render_as_string(hide_password=True)
    digest = hashlib.sha256(safe.encode()).hexdigest()[:16]
    return Path(platformdirs.user_state_dir("camaudit")) / f"scan-{digest}.lock"


@contextmanager
def scan_lock(db_url: str) -> Iterator[Path]:
    """Hold the database's scan lock for the block; raise LockHeld at once if another has it."""
    path = lock_path_for(db_url)
    lock = filelock.FileLock(path, timeout=0, mode=0o600, on_acquired=_write_holder,
                             preserve_lock_file=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock.acquire()
    except filelock.Timeout:
        raise LockHeld(path, _read_holder(path)) from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create the scan lock {path} ({exc.strerror}); make "
                      f"{path.parent} writable for this user, or set db to a writable place") from None
    try:
        yield path
    finally:
        lock.release()


def _write_holder(fd: int) -> None:
    """Record who holds the lock (pid, host, start time) for the next scan's error message."""
    os.ftruncate(fd, 0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0)


def _read_holder(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_HOLDER_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise ScanInterrupted once; later ones are ignored.

    Only the first signal interrupts: the cleanup that follows (marking the scan interrupted,
    releasing the lock) must not itself be interrupted by an impatient second Ctrl-C or a
    supervisor repeating SIGTERM. Previous handlers are restored on exit. Main thread only
    (Python delivers signals there).
    """
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not fired:
            fired.append(signum)
            raise ScanInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
