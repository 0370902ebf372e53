"""Every file a user names for output (exports, observations, imports) is written here.

Readers see the old file or the complete new one, never a part: an export that fails
half-way (a bad row, a full disk, Ctrl-C, SIGKILL) must not leave an empty or truncated file
where a previous good export or a scheduled upload expects one. A regular file (or a new
name) is written to a temporary file in the same directory, created 0600, fsynced and renamed
over the target. A FIFO or character device (`/dev/null`, a pipe another program reads) is
written directly and never replaced or chmodded. A symbolic link as the target is refused:
following it silently could replace whatever it points at. See docs/security.md.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from camaudit.exitcodes import ExitCode

EXPORT_MODE = 0o600  # exports list where flagged devices are: readable by the owner only
STALE_AFTER = 60.0  # seconds: a temp of a dead process is only removed once this old
ABANDONED_AFTER = 86400.0  # seconds: any temp of ours this old is removed (PID reused)
_TEMP = re.compile(r"^\..+\.camaudit-(\d+)\.[A-Za-z0-9_]+\.tmp$")
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_THERE = {errno.ENOENT: "its directory does not exist; create it or choose another path",
              errno.ENOTDIR: "a part of it is not a directory; choose another path",
              errno.EACCES: "permission denied; choose a directory this user can write",
              errno.EPERM: "permission denied; choose a directory this user can write",
              errno.EROFS: "the file system is read-only; choose another path",
              errno.EISDIR: "it is a directory; name a file in it"}


class OutputFileError(OSError):
    """A one-line message the user can act on, and the exit code it deserves.

    A bad path (missing directory, no permission, a symlink) is a usage error (2); a full
    disk or an I/O error while writing is a runtime error (3).
    """

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = code


def write_atomic(path: Path, produce: Callable[[BinaryIO], None], mode: int = EXPORT_MODE) -> None:
    """Call `produce(stream)` on the output for `path`; see `output_file`."""
    with output_file(path, mode=mode) as stream:
        produce(stream)


@contextlib.contextmanager
def output_file(path: str | os.PathLike[str], *, mode: int = EXPORT_MODE) -> Iterator[BinaryIO]:
    """A binary stream whose content appears at `path` when the block ends without error.

    An error inside the block removes the temporary file and leaves `path` as it was.
    Raises OutputFileError for a target that cannot or must not be written.
    """
    target = Path(path)
    try:
        info: os.stat_result | None = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _path_error(target, exc) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise OutputFileError(
            f"refusing to write {target}: it is a symbolic link (to {os.readlink(target)}); "
            "name the file it points to, or leave out the output option to write to stdout",
            ExitCode.USAGE)
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        with _direct(target) as stream:
            yield stream
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputFileError(f"refusing to write {target}: it is not a regular file, FIFO or "
                              "character device; choose a file name", ExitCode.USAGE)
    with _replacing(target, mode) as stream:
        yield stream


@contextlib.contextmanager
def output_text(path: str | os.PathLike[str], *, mode: int = EXPORT_MODE) -> Iterator[IO[str]]:
    """`output_file` as UTF-8 text (JSON Lines writers)."""
    with output_file(path, mode=mode) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", write_through=False)
        try:
            yield text
            text.flush()
        finally:
            text.detach()  # the binary stream is committed or discarded by output_file


@contextlib.contextmanager
def _direct(target: Path) -> Iterator[BinaryIO]:
    """Write a FIFO or character device in place: no temp, no rename, no chmod, no truncation."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError as exc:
        raise _path_error(target, exc) from None
    stream = os.fdopen(fd, "wb")
    try:
        yield stream
        stream.flush()
    except OSError as exc:
        raise _write_error(target, exc, kept="") from None
    finally:
        with contextlib.suppress(OSError):  # a failed flush would fail again here
            stream.close()


@contextlib.contextmanager
def _replacing(target: Path, mode: int) -> Iterator[BinaryIO]:
    """Write a temp file beside `target` (same file system: `os.replace` is atomic), then rename.

    The temp name carries our PID so a later run can tell an abandoned temp (its writer was
    killed) from one being written, and remove it.
    """
    directory = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(directory)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.camaudit-{os.getpid()}.",
                                        suffix=".tmp")
    except OSError as exc:
        raise _path_error(target, exc) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), mode)  # mkstemp's file: ours, never world-readable in between
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, OutputFileError):
            raise _write_error(target, exc, kept=" (the previous file, if any, is intact)") from None
        raise
    _fsync_dir(directory)


def remove_stale_temps(directory: Path, now: float | None = None) -> list[str]:
    """Remove our temp files left in `directory` by killed writers; return their names.

    Only regular files owned by this user and named by `output_file`'s pattern are touched:
    those whose PID is not running here and that are STALE_AFTER old (a writer in another
    PID namespace sharing the directory keeps writing, so its temp stays fresh), or any such
    temp older than ABANDONED_AFTER (the PID was reused).
    """
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed  # the write that follows reports an unusable directory
    for name in names:
        match = _TEMP.match(name)
        if match is None:
            continue
        path = directory / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            continue
        age = now - info.st_mtime
        if age > ABANDONED_AFTER or (age > STALE_AFTER and not _running(int(match.group(1)))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                removed.append(name)
    return removed


def _running(pid: int) -> bool:
    """Whether `pid` names a live process in this PID namespace."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # alive under another user (or not a PID at all): leave the file
    return True


def _path_error(target: Path, exc: OSError) -> OutputFileError:
    """An open/create failure: usually a bad path (2); a full disk stays a runtime error (3)."""
    if exc.errno in _FULL:
        return _write_error(target, exc, kept="")
    hint = _NOT_THERE.get(exc.errno or 0)
    if hint is None:
        return OutputFileError(f"cannot write {target}: {exc.strerror or exc}", ExitCode.RUNTIME)
    return OutputFileError(f"cannot write {target}: {hint}", ExitCode.USAGE)


def _write_error(target: Path, exc: OSError, kept: str) -> OutputFileError:
    """A failure while writing: disk full, quota, I/O error — the run failed (3)."""
    if exc.errno in _FULL:
        return OutputFileError(f"cannot write {target}: no space left on its file system{kept}; "
                               "free space or choose another path", ExitCode.RUNTIME)
    return OutputFileError(f"cannot write {target}: {exc.strerror or exc}{kept}", ExitCode.RUNTIME)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort where directories cannot be opened."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
