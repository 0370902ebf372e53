"""`Lab`: bring a simulated LAN up, describe it, run things inside it, tear it down.

The lab outlives the command that made it (`camaudit lab up` returns, the fleet server keeps
running), so everything needed to remove it — exact namespace names and the server's PID —
is written to a state file first. `down()` removes exactly those, nothing matched by pattern.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from camaudit.lab import netns, persona as persona_mod, topology
from camaudit.lab.capture import Capture
from camaudit.lab.persona import Persona

STATE_DIR = Path(os.environ.get("CAMAUDIT_LAB_STATE", "/run/camaudit-lab"))
READY_TIMEOUT = 120.0


class LabError(RuntimeError):
    """The lab could not be built, found or removed; the message says what to do."""


class Lab:
    """One named lab: namespaces `ca-<name>-…`, a state file, one fleet server process."""

    def __init__(self, name: str = "demo") -> None:
        self.name = topology.check_name(name)
        self.state_path = STATE_DIR / f"{name}.json"
        self.scanner_ns = f"ca-{name}-scan"
        self.scanner_iface = topology.SCANNER_IFACE
        self.scanner_ip = topology.SCANNER_IP

    # ---- lifecycle ------------------------------------------------------------------

    def up(self, only: Sequence[str] | None = None, extra_personas: Sequence[Path] = (),
           count: int | None = None, ipv6: bool = False, chatter: bool = False) -> None:
        """Build the lab and start its server. On any failure, removes what it built.

        `only` picks persona ids (default: all shipped plus `extra_personas`); `count` builds
        a macvlan fleet of that many hosts on 198.19.0.0/16 drawn from those personas instead
        of one namespace per persona. `ipv6` adds the IPv6 personas (personas/ipv6/) and with
        them the lab's IPv6 segments (docs/lab.md); with `count`, the fleet is IPv6-only on
        fdca:a0d1:0:2::/64. `chatter` turns on the personas' unsolicited announcements
        (`[chatter]`); off, devices only ever answer.
        """
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces); run as root")
        if self.state_path.exists() or netns.exists(self.scanner_ns):
            raise LabError(f"lab {self.name!r} is already up (or left over): "
                           f"run `camaudit lab down --name {self.name}` first")
        personas = select_personas(only, extra_personas, ipv6)
        plan = (topology.plan_fleet(self.name, personas, count, ipv6) if count
                else topology.plan_devices(self.name, personas))
        _check_fd_budget(plan)
        started = time.monotonic()
        state: dict[str, Any] = {"name": self.name, "namespaces": plan.namespaces, "pid": None,
                                 "fleet": plan.fleet, "scanner_ns": self.scanner_ns,
                                 "scanner_iface": self.scanner_iface,
                                 "chatter": chatter, "devices": [d.truth(chatter) for d in plan.devices]}
        STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._write_state(state)  # before building: a crash mid-way still leaves a way down
        try:
            topology.build(plan)
            state["pid"] = self._start_server(plan, chatter)
            state["up_seconds"] = round(time.monotonic() - started, 3)
            self._write_state(state)
        except BaseException:
            self.down()
            raise

    def down(self) -> list[str]:
        """Stop the server and delete this lab's namespaces, by recorded PID and exact names.

        Idempotent. Without a state file it removes the fixed infrastructure names and the
        device namespaces `ca-<name>-d<N>` / `ca-<name>-fleet` of this lab only. Returns the
        namespaces that could not be removed (empty on success).
        """
        state = self._read_state()
        if state and state.get("pid"):
            _stop_server(state["pid"], self.name)
        names = state["namespaces"] if state else self._own_namespaces()
        left = topology.destroy(names)
        if left:
            raise LabError(f"could not delete namespaces {left}; check `ip netns pids NAME` for processes still inside")
        self.state_path.unlink(missing_ok=True)
        self.spec_path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        return left

    def _own_namespaces(self) -> list[str]:
        infra = {f"ca-{self.name}-{s}" for s in ("scan", "lan", "rtr", "fleet")}
        devices = {n for n in netns.list_names()
                   if n.startswith(f"ca-{self.name}-d") and n[len(f"ca-{self.name}-d"):].isdigit()}
        return sorted(infra | devices)

    def unplug(self, device: str) -> dict[str, Any]:
        """Take a device off the network (its link goes down; persona id or ip), as if
        unplugged: no ARP, no answers. `plug()` brings it back with the same ip and MAC."""
        return self._set_link(device, "down")

    def plug(self, device: str) -> dict[str, Any]:
        return self._set_link(device, "up")

    def _set_link(self, device: str, state: str) -> dict[str, Any]:
        found = [d for d in self.truth() if device in (d["persona"], d["ip"])]
        if len(found) != 1:
            raise LabError(f"lab {self.name!r} has {len(found)} devices matching {device!r}: "
                           "give a persona id (shipped lab) or an ip (fleet)")
        spec = json.loads(self.spec_path.read_text())["devices"]
        host = next(h for h in spec if h["ip"] == found[0]["ip"])
        netns.ip(["link", "set", host["ifname"], state], ns=host["netns"])
        return found[0]

    # ---- description ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        state = self._read_state()
        if state is None:
            return {"name": self.name, "up": False, "leftover_namespaces":
                    [n for n in self._own_namespaces() if netns.exists(n)]}
        pid = state.get("pid")
        return {"name": self.name, "up": bool(pid and _alive(pid, self.name)), "pid": pid,
                "scanner_ns": state["scanner_ns"], "scanner_iface": state["scanner_iface"],
                "fleet": state["fleet"], "devices": len(state["devices"]),
                "namespaces": {n: netns.exists(n) for n in state["namespaces"]},
                "server_rss_kib": _rss_kib(pid) if pid else None,
                "up_seconds": state.get("up_seconds"), "log": str(self.log_path)}

    def truth(self) -> list[dict[str, Any]]:
        """Ground truth per device (ip, mac, persona, vendor, brand, model, flagged, segment…)."""
        state = self._read_state()
        if state is None:
            raise LabError(f"lab {self.name!r} is not up: run `camaudit lab up --name {self.name}`")
        return state["devices"]

    # ---- running things inside ----------------------------------------------------------

    def exec(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """Run `argv` inside the scanner namespace (subprocess.run keyword arguments pass through)."""
        return subprocess.run(["ip", "netns", "exec", self.scanner_ns, *argv], **kwargs)

    @contextmanager
    def in_scanner_ns(self) -> Iterator[None]:
        """The calling thread enters the scanner namespace; sockets made inside stay there."""
        with netns.entered(self.scanner_ns):
            yield

    @contextmanager
    def capture(self, bpf: str = "", snaplen: int = 512) -> Iterator[Capture]:
        """Record the scanner's lab link with tcpdump while the block runs; see `Capture`."""
        cap = Capture(self.scanner_ns, self.scanner_iface, STATE_DIR / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.pcap",
                      bpf, snaplen)
        cap.start()
        try:
            yield cap
        finally:
            cap.stop()

    # ---- internals ------------------------------------------------------------------------

    @property
    def spec_path(self) -> Path:
        return STATE_DIR / f"{self.name}.spec.json"

    @property
    def log_path(self) -> Path:
        return STATE_DIR / f"{self.name}.log"

    def _start_server(self, plan: topology.Plan, chatter: bool) -> int:
        spec = {"devices": [{"persona_file": str(d.persona.source), "ip": d.ip, "ipv6": d.ipv6, "mac": d.mac,
                             "netns": d.netns, "ifname": d.ifname, "chatter": chatter} for d in plan.devices]}
        self.spec_path.write_text(json.dumps(spec))
        read_fd, write_fd = os.pipe()
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "camaudit.lab.server", str(self.spec_path), str(write_fd), self.name],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(write_fd,),
                start_new_session=True, cwd="/")
        os.close(write_fd)
        try:
            message = _read_line(read_fd, READY_TIMEOUT)
        finally:
            os.close(read_fd)
        if not message.startswith("ready"):
            _stop_server(proc.pid, self.name)
            raise LabError(f"lab server did not start: {message or 'no answer'} (log: {self.log_path})")
        return proc.pid

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_path)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise LabError(f"{self.state_path} is corrupt ({exc}); remove it and the lab's namespaces by hand") from None


def select_personas(only: Sequence[str] | None, extra: Sequence[Path] = (), ipv6: bool = False) -> list[Persona]:
    """Shipped personas (with `ipv6`, the IPv6 ones too) plus extra files, filtered to `only`
    (unknown ids are an error)."""
    personas = persona_mod.load_many(persona_mod.shipped_paths(ipv6) + [Path(p) for p in extra])
    if only is None:
        return personas
    by_id = {p.id: p for p in personas}
    unknown = [i for i in only if i not in by_id]
    if unknown:
        raise LabError(f"unknown persona id(s) {unknown}; known: {', '.join(sorted(by_id))}")
    return [by_id[i] for i in only]


def _check_fd_budget(plan: topology.Plan) -> None:
    """The server holds one socket per TCP port and discovery responder of every device."""
    need = sum(len(d.persona.tcp_ports) + 3 for d in plan.devices) + 64
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if need > hard:
        raise LabError(f"{len(plan.devices)} devices need about {need} sockets but the open-file limit is "
                       f"{hard}: lower --count or raise the hard limit (ulimit -Hn)")


def all_lab_names() -> list[str]:
    """Labs with a state file (for `camaudit lab down --all` and `status --all`)."""
    if not STATE_DIR.is_dir():
        return []
    return sorted(p.stem for p in STATE_DIR.glob("*.json") if not p.name.endswith(".spec.json"))


def _read_line(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace").strip()


def _alive(pid: int, name: str) -> bool:
    """True if `pid` is still *our* fleet server (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"camaudit.lab.server" in cmdline and name.encode() in cmdline


def _stop_server(pid: int, name: str) -> None:
    if not _alive(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(pid, name):
            return
        _reap(pid)
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):  # SIGKILL is delivered asynchronously: gone only once reaped or exited
        _reap(pid)
        if not _alive(pid, name):
            return
        time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our child (avoids a zombie looking alive)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
