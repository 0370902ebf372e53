"""The scan lock across real processes, and stop signals turned into ScanInterrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from camaudit.runlock import LockHeld, ScanInterrupted, lock_path_for, scan_lock, stop_signals

HOLD = textwrap.dedent("""
    import sys, time
    from camaudit.runlock import scan_lock
    with scan_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def test_lock_lives_next_to_sqlite_file_and_in_state_dir_for_servers(tmp_path: Path) -> None:
    assert lock_path_for(f"sqlite:///{tmp_path}/inv.db") == tmp_path / "inv.db.lock"
    a = lock_path_for("postgresql+psycopg://scan:secret@db.example/camaudit")
    b = lock_path_for("postgresql+psycopg://scan:other@db.example/camaudit")
    c = lock_path_for("postgresql+psycopg://scan@db.example/elsewhere")
    assert a == b != c, "the password must not change (or appear in) the lock name"
    assert "secret" not in str(a)


def test_second_holder_is_refused_while_first_process_lives(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inv.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld) as caught:
            with scan_lock(url):
                pass
        assert f"pid {holder.pid}" in str(caught.value)
        assert str(tmp_path / "inv.db.lock") in str(caught.value)
    finally:
        holder.kill()  # kill -9: the kernel drops the flock with the process
        holder.wait()
    with scan_lock(url) as path:
        assert f"pid {os.getpid()}" in path.read_text()


def test_lock_is_released_after_an_exception(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inv.db"
    with pytest.raises(RuntimeError):
        with scan_lock(url):
            raise RuntimeError("scan failed")
    with scan_lock(url):
        pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_first_stop_signal_interrupts_later_ones_are_ignored(sig: signal.Signals) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals():
        with pytest.raises(ScanInterrupted) as caught:
            os.kill(os.getpid(), sig)
            signal.sigtimedwait([], 0)  # give the interpreter a bytecode boundary
        assert caught.value.signum == sig
        assert isinstance(caught.value, KeyboardInterrupt)
        os.kill(os.getpid(), signal.SIGTERM)  # cleanup must not be interrupted again
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


def test_interrupt_escapes_asyncio_and_broad_except_blocks() -> None:
    """A probe's `except Exception` must not swallow a stop request inside the event loop."""
    import asyncio

    async def probe_that_catches_everything() -> str:
        for _ in range(200):
            try:
                await asyncio.sleep(0.01)
            except Exception:
                return "swallowed"
        return "finished"

    async def main() -> str:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        return await probe_that_catches_everything()

    with stop_signals():
        with pytest.raises(ScanInterrupted):
            asyncio.run(main())


def test_unusable_lock_location_says_where_and_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=rf"cannot create the scan lock {blocker}/inv.db.lock .*make {blocker} writable"):
        with scan_lock(f"sqlite:///{blocker}/inv.db"):
            pass
