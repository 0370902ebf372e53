"""Network namespaces: create, delete, enter — always by exact name.

Python 3.11 has no `os.setns`, so entering a namespace goes through libc via ctypes. A
socket keeps the namespace it was created in, which is what lets one process (and one
asyncio loop) serve every simulated device: enter, create the sockets, return.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
PREFIX = "ca-"  # every namespace the lab makes starts with this, so teardown can go by name

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """An `ip` command or a namespace switch failed; the message says which and why."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)} (are you root?)")


@contextmanager
def entered(name: str) -> Iterator[None]:
    """Switch the *calling thread* into namespace `name`, and back on exit.

    Sockets created inside stay in `name` after the thread returns.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY)
    except FileNotFoundError:
        os.close(own)
        raise NetnsError(f"network namespace {name!r} does not exist (is the lab up?)") from None
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_names() -> list[str]:
    """Names of all namespaces under /run/netns (for status and leak checks)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


def ip(args: Sequence[str], ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run `ip [-n ns] ARGS`; raises NetnsError with ip's own message on failure."""
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc


def ip_batch(lines: Sequence[str], ns: str | None = None, family: str | None = None) -> None:
    """Run many `ip` commands in one process (`ip -batch -`): 1,000 links in well under a second.

    `family` ("-6") applies to every line: `ip rule` assumes IPv4 unless told."""
    if not lines:
        return
    argv = ["ip"] + (["-n", ns] if ns else []) + ([family] if family else []) + ["-batch", "-"]
    proc = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()[:2000]}")


def nft(ruleset: str, ns: str) -> None:
    """Load an nftables ruleset inside lab namespace `ns` (`nft -f -`, one transaction)."""
    if not ns.startswith(PREFIX):
        raise NetnsError(f"refusing to load nftables rules into {ns!r}: not a lab namespace")
    argv = ["ip", "netns", "exec", ns, "nft", "-f", "-"]
    try:
        proc = subprocess.run(argv, input=ruleset, capture_output=True, text=True)
    except FileNotFoundError:
        raise NetnsError("`ip` not found: install iproute2") from None
    if proc.returncode != 0:
        hint = " (install it: apt-get install nftables)" if "nft" in proc.stderr and "No such file" in proc.stderr else ""
        raise NetnsError(f"loading nftables rules in {ns} failed: {proc.stderr.strip()[:2000]}{hint}")


def add(name: str) -> None:
    if not name.startswith(PREFIX):
        raise NetnsError(f"refusing to create namespace {name!r}: lab namespaces start with {PREFIX!r}")
    ip(["netns", "add", name])
    ip(["link", "set", "lo", "up"], ns=name)
    # IPv4 only: no router solicitations or DAD chatter on the lab link, so captures show
    # exactly what the scanner sent.
    for scope in ("all", "default"):
        sysctl(name, f"net.ipv6.conf.{scope}.disable_ipv6", "1")


def delete(name: str) -> bool:
    """Delete namespace `name` if it exists (its veths and macvlans go with it)."""
    if not name.startswith(PREFIX):
        raise NetnsError(f"refusing to delete namespace {name!r}: not a lab namespace")
    if not exists(name):
        return False
    ip(["netns", "del", name], check=False)
    return not exists(name)


def sysctl(ns: str, key: str, value: str) -> None:
    """Set a net.* sysctl inside `ns`: /proc/sys/net shows the namespace of the opening thread."""
    path = Path("/proc/sys") / key.replace(".", "/")
    with entered(ns):
        try:
            path.write_text(value)
        except OSError as exc:
            raise NetnsError(f"sysctl {key}={value} in {ns} failed: {exc}") from None
