"""A throwaway PostgreSQL cluster for lab tests and benchmarks, removed on every exit.

It runs as the `postgres` user (initdb refuses root) from a private temporary directory,
listens on 127.0.0.1 only and on a Unix socket in that directory. The socket is what a
scan inside a lab namespace uses: network namespaces do not separate the file system, so
the scanner reaches the cluster without any route out of its namespace.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_PG_ROOT = Path("/usr/lib/postgresql")
_databases = itertools.count()


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout), None if absent."""
    if not _PG_ROOT.exists():
        return None
    return next((p for p in sorted(_PG_ROOT.glob("*/bin"), reverse=True) if (p / "initdb").exists()), None)


def unavailable_reason() -> str | None:
    """Why a throwaway cluster cannot start here (no server binaries, not root), else None."""
    if server_binaries() is None:
        return "PostgreSQL server binaries are absent (make test installs the Debian package)"
    if os.geteuid() != 0:
        return "starting a throwaway PostgreSQL cluster needs root (to run it as user postgres)"
    return None


@dataclass(frozen=True, slots=True)
class Cluster:
    """A running throwaway cluster: its directory (also the socket directory) and TCP port."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        """The server URL prefix over TCP on 127.0.0.1 (append `/<database>`)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def new_database(self, prefix: str = "camaudit_test") -> str:
        """Create a fresh, empty database; return its name."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def socket_url(self, database: str) -> str:
        """The database's URL over the Unix socket: usable from inside a lab namespace."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.directory}&port={self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(argv: list[str]) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, text=True,
                   timeout=60)


@contextmanager
def throwaway_cluster(*, max_connections: int = 100) -> Iterator[Cluster]:
    """Start a cluster (fsync off: its data is thrown away) and stop and remove it on exit.

    Raises RuntimeError with `unavailable_reason()` when it cannot start here.
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    bin_dir = server_binaries()
    assert bin_dir is not None
    tmp = Path(tempfile.mkdtemp(prefix="ca-pg-"))
    shutil.chown(tmp, "postgres", "postgres")
    data, port = tmp / "data", _free_port()
    try:
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                      "--no-sync", "-E", "UTF8"])
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-o",
                      f"-k {tmp} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                      f"-c max_connections={max_connections}", "start"])
        yield Cluster(tmp, port)
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(tmp, ignore_errors=True)
