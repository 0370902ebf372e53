"""Write a file so that readers see the old file or the complete new one, never a part.

An export that fails half-way (a bad row, a full disk, Ctrl-C) must not leave an empty or
truncated file where a previous good export or a scheduled upload expects one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

EXPORT_MODE = 0o600  # exports list where flagged devices are: readable by the owner only


def write_atomic(path: Path, produce: Callable[[BinaryIO], None], mode: int = EXPORT_MODE) -> None:
    """Call `produce(stream)` on a temp file beside `path`, then move it over `path`.

    The temp file lives in the target directory (same filesystem, so `os.replace` is atomic),
    is created with `mode` from the start (never world-readable in between), and is fsynced
    before the rename. On any error the temp file is removed and `path` is left as it was.
    """
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            produce(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(directory)


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
