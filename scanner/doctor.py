"""`camaudit doctor`: will a scan work here? Checked without sending a single packet.

An operator installing camaudit on a site scanner wants to know before the first cron run
whether privileges, nmap, interfaces, OUI data, fingerprints and the database are in order.
Every check only reads local state (/proc, the installed data files, a local `nmap
--version`, the netlink interface list) except the database check, which opens the
configured inventory — that connection is the thing being checked. No check picks, probes or
pings an address: the default route is reported for information only.

Each check ends ok, warn (scans run, with less) or fail (scans will not run), with a fix.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from camaudit.redact import mask_secrets

CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
OUI_MAX_AGE_DAYS = 365
COMMAND_TIMEOUT = 10.0


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One finding of the doctor: what was checked, how it ended, what was seen, what to do."""

    name: str
    level: Level
    detail: str
    fix: str = ""


def effective_capabilities(status_text: str) -> int:
    """The CapEff bit mask from /proc/<pid>/status text (0 when absent)."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def check_privileges(status_text: str | None = None) -> Check:
    if status_text is None:
        status_text = Path("/proc/self/status").read_text()
    caps = effective_capabilities(status_text)
    have = [name for bit, name in ((CAP_NET_RAW, "CAP_NET_RAW"), (CAP_NET_ADMIN, "CAP_NET_ADMIN"))
            if caps >> bit & 1]
    if "CAP_NET_RAW" in have:
        return Check("privileges", Level.OK, "effective capabilities: " + ", ".join(have))
    return Check("privileges", Level.WARN,
                 "no CAP_NET_RAW: ARP discovery is unavailable, so routed-style TCP discovery is "
                 "used and devices get no MAC (weaker identification)",
                 "run as root, or give a dedicated user CAP_NET_RAW "
                 "(systemd: AmbientCapabilities=CAP_NET_RAW; see docs/operations.md)")


def check_nmap() -> Check:
    path = shutil.which("nmap")
    if path is None:
        return Check("nmap", Level.WARN, "nmap not found (needed only for --engine nmap)",
                     "apt-get install nmap")
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("nmap", Level.WARN, f"{path} --version failed: {exc}", "reinstall nmap")
    first = (out.stdout.strip().splitlines() or ["(no version output)"])[0]
    return Check("nmap", Level.OK, f"{path}: {first}")


def default_route(route_table: str) -> str | None:
    """The interface of an IPv4 default route in /proc/net/route text, if any."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
            return fields[0]
    return None


def check_interfaces() -> Check:
    """Interfaces of this network namespace with their IPv4 addresses (read via netlink).

    The scan lists interfaces with iproute2's `ip` too, so a PATH without it (a sparse cron
    PATH) is a failure here rather than at 02:30 in the night.
    """
    if shutil.which("ip") is None:
        return Check("interfaces", Level.FAIL, f"iproute2 `ip` is not on PATH ({os.environ.get('PATH', '')})",
                     "apt-get install iproute2, or set PATH=/usr/bin:/bin (or where ip lives) for the job")
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True,
                             timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL, check=True)
        entries = [f"{i['ifname']} {','.join(a['local'] + '/' + str(a['prefixlen']) for a in i.get('addr_info', []))}".strip()
                   for i in json.loads(out.stdout)]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        entries = [name for _, name in socket.if_nameindex()]
    try:
        route_iface = default_route(Path("/proc/net/route").read_text())
    except OSError:
        route_iface = None
    route = (f"default route via {route_iface}" if route_iface else "no default route") + \
        " (for information: camaudit scans only targets you name)"
    usable = [e for e in entries if not e.startswith("lo")]
    if not usable:
        return Check("interfaces", Level.WARN, f"only loopback here; {route}",
                     "run the scanner in a namespace or host attached to the networks to audit")
    return Check("interfaces", Level.OK, "; ".join(usable) + f"; {route}")


def check_oui_data(now: float | None = None) -> Check:
    from camaudit import oui

    now = time.time() if now is None else now
    sources: list[tuple[str, Path]] = []
    user_file = oui.data_dir() / oui.USER_REGISTRY
    if user_file.is_file():
        sources.append(("refreshed registry", user_file))
    bundled = oui.bundled_ieee_path()
    if bundled is not None:
        sources.append(("bundled IEEE list (mac-vendor-lookup; date is its install time)", bundled))
    if not sources:
        return Check("oui data", Level.WARN, "no IEEE registry found: only flagged-vendor prefixes "
                     "are named, other devices show no vendor",
                     "reinstall camaudit, or `camaudit oui refresh FILE` with an IEEE oui.csv")
    newest_label, newest = max(sources, key=lambda s: s[1].stat().st_mtime)
    age_days = int((now - newest.stat().st_mtime) // 86400)
    detail = f"{newest_label} {newest}, {age_days} days old"
    if age_days > OUI_MAX_AGE_DAYS:
        return Check("oui data", Level.WARN, detail,
                     "download the IEEE oui.csv on a connected machine and run "
                     "`camaudit oui refresh oui.csv` here")
    return Check("oui data", Level.OK, detail)


def check_fingerprints() -> Check:
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.fingerprints.verify import verify

    try:
        fset = load_fingerprints()
        problems = verify(fset)
    except Exception as exc:  # a broken data file must be reported, not crash the doctor
        return Check("fingerprints", Level.FAIL, f"cannot load fingerprints: {exc}",
                     "fix or remove the file named above; `camaudit fingerprints verify` explains")
    if problems:
        return Check("fingerprints", Level.FAIL, f"{len(problems)} problem(s), first: {problems[0]}",
                     "`camaudit fingerprints verify` lists them; fix the named file and line")
    return Check("fingerprints", Level.OK, f"{len(fset.fingerprints)} fingerprints, all examples verified")


def _parse_url(url: str) -> Any:
    """The SQLAlchemy URL, or a failed check saying (password masked) why it cannot be read."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a non-numeric port
        return Check("database", Level.FAIL, f"cannot parse the database URL {mask_secrets(url)}: "
                     f"{mask_secrets(str(exc))}",
                     "write it as sqlite:////path/inventory.db or "
                     "postgresql+psycopg://USER@HOST[:PORT]/DB (port 1-65535)")


def check_database(url: str) -> Check:
    """Open the inventory read-only: `SELECT 1` and compare its schema with this version's."""
    from sqlalchemy import create_engine, text

    from camaudit.db import migrate

    parsed = _parse_url(url)
    if isinstance(parsed, Check):
        return parsed
    safe = mask_secrets(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_file():
            parent = next((p for p in path.absolute().parents if p.exists()), Path("/"))
            if os.access(parent, os.W_OK):
                return Check("database", Level.OK, f"{path} does not exist yet; the first scan creates it")
            return Check("database", Level.FAIL, f"{path} does not exist and {parent} is not writable",
                         f"create {path.parent} for this user, or set db = \"sqlite:////writable/path.db\"")
        connect_args: dict[str, object] = {"timeout": 5}
    else:
        connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = migrate.current_revision(conn)
    except Exception as exc:  # driver errors vary by backend; all mean "unreachable"
        return Check("database", Level.FAIL, f"cannot open {safe}: {exc.__class__.__name__}: "
                     f"{mask_secrets((str(exc).splitlines() or [''])[0])}",
                     "check the db URL, that the server runs and accepts this user, and file permissions")
    finally:
        engine.dispose()
    head = migrate.head_revision()
    if current != head:
        return Check("database", Level.WARN, f"{safe} reachable; schema {current or 'empty'}, "
                     f"this version expects {head}", "run `camaudit db upgrade` (scans also upgrade it)")
    return Check("database", Level.OK, f"{safe} reachable, schema {current}")


def check_lock(url: str) -> Check:
    from camaudit.runlock import LockHeld, lock_path_for, scan_lock

    if isinstance(_parse_url(url), Check):  # the database check already says why
        return Check("scan lock", Level.WARN, "not checked: the database URL cannot be parsed",
                     "fix the database URL (see the database check)")
    if not lock_path_for(url).exists():  # never scanned: nothing to check, nothing to create
        return Check("scan lock", Level.OK, f"free ({lock_path_for(url)} not created yet)")
    try:
        with scan_lock(url) as path:
            return Check("scan lock", Level.OK, f"free ({path})")
    except LockHeld as exc:
        return Check("scan lock", Level.OK, f"a scan is running: {exc.holder} ({exc.path})")
    except OSError as exc:
        return Check("scan lock", Level.FAIL, f"cannot create the lock file: {exc}",
                     "make the database directory writable for the scanning user")


def run_checks(db_url: str, config_check: Check) -> list[Check]:
    """All checks, in the order an operator fixes things; one failing never hides the others."""
    checks = [config_check]
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("privileges", check_privileges), ("nmap", check_nmap), ("interfaces", check_interfaces),
        ("oui data", check_oui_data), ("fingerprints", check_fingerprints),
        ("database", lambda: check_database(db_url)), ("scan lock", lambda: check_lock(db_url))]
    for name, step in steps:
        try:
            checks.append(step())
        except Exception as exc:  # a check that crashes is itself a finding, with its reason
            checks.append(Check(name, Level.FAIL, f"check crashed: {mask_secrets(repr(exc))}",
                                "report this as a camaudit bug"))
    return checks


def as_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) | {"level": str(c.level)} for c in checks], indent=2)
