"""Entry point of the fleet server process (started by `Lab.up`, stopped by `Lab.down`)."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
import tempfile
from pathlib import Path

import uvloop

from camaudit.lab.server.app import FleetServer, read_spec


def _raise_fd_limit() -> None:
    """A 1,000-host fleet holds several thousand sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(spec: Path, ready_fd: int) -> None:
    with tempfile.TemporaryDirectory(prefix="camaudit-lab-") as workdir:
        server = FleetServer(Path(workdir))
        try:
            hosts = read_spec(spec)
            await server.bind(hosts)
        except Exception as exc:
            logging.exception("binding the lab failed")
            os.write(ready_fd, f"error: {type(exc).__name__}: {exc}\n".encode())
            os.close(ready_fd)
            raise SystemExit(1) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        os.write(ready_fd, f"ready {len(hosts)}\n".encode())
        os.close(ready_fd)
        logging.info("serving %d devices", len(hosts))
        await stop.wait()
        server.close()


def main(argv: list[str]) -> int:
    # A third argument, the lab name, is not used here: it makes the process recognisable
    # in /proc/PID/cmdline so `lab down` never signals a PID that was reused by another process.
    if len(argv) not in (2, 3):
        print("usage: python -m camaudit.lab.server SPEC.json READY_FD [LAB_NAME]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _raise_fd_limit()
    uvloop.run(_serve(Path(argv[0]), int(argv[1])))  # lab CPU competes with the scanner on 2 cores
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
