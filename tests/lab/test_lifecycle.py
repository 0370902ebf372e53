"""Building and removing labs: fleet mode at scale, teardown by exact names (also after a
failed start), the CLI round trip, and leaving no namespace or process behind."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from camaudit.discovery import arp
from camaudit.lab import Lab, LabError
from camaudit.lab import netns
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

FLEET_PERSONAS = ["hikvision-camera", "dahua-camera", "axis-camera", "linux-nginx"]


def leftovers(name: str) -> list[str]:
    return [n for n in netns.list_names() if n.startswith(f"ca-{name}-")]


def server_alive(pid: int) -> bool:
    try:
        return b"camaudit.lab.server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def _server_headers(targets: list[str]) -> dict[str, str]:
    async def one(ip: str) -> tuple[str, str]:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, 80), 5)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        head = await asyncio.wait_for(reader.read(4096), 5)
        writer.close()
        server = [line for line in head.split(b"\r\n") if line.lower().startswith(b"server:")]
        return ip, server[0].split(b":", 1)[1].strip().decode() if server else ""
    return dict(await asyncio.gather(*(one(ip) for ip in targets)))


def test_fleet_of_300_hosts_comes_up_answers_and_goes_away(lab_factory, scanner_side) -> None:
    fleet = lab_factory(only=FLEET_PERSONAS, count=300)
    truth = fleet.truth()
    assert len(truth) == 300 and {d["segment"] for d in truth} == {"fleet"}
    assert len({d["ip"] for d in truth}) == 300 and len({d["mac"] for d in truth}) == 300
    assert all(ipaddress.IPv4Address(d["ip"]) in ipaddress.IPv4Network("198.19.0.0/16") for d in truth)
    status = fleet.status()
    assert status["up"] and status["server_rss_kib"] < 200 * 1024, "one process serves the whole fleet"

    # every HTTP host answers with its persona's Server header (asyncio inside the scanner namespace)
    expected = {"hikvision-camera": "App-webs/", "dahua-camera": "", "axis-camera": "Apache", "linux-nginx": "nginx/1.22.1"}
    web = {d["ip"]: expected[d["persona"]] for d in truth}
    with fleet.in_scanner_ns():
        got = asyncio.run(_server_headers(sorted(web)))
    assert got == web

    # ARP: fleet hosts answer with their own MACs (sample of 40)
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp
    sample = {d["ip"]: d["mac"] for d in truth[::7][:40]}
    mac = json.loads(fleet.exec(["ip", "-j", "link", "show", "lab0"], capture_output=True, text=True,
                                check=True).stdout)[0]["address"]
    with fleet.in_scanner_ns():
        answered, _ = srp(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=mac, psrc="198.19.0.1", pdst=list(sample)),
                          iface=fleet.scanner_iface, timeout=1, verbose=False)
    assert {r[ARP].psrc: r[ARP].hwsrc for _, r in answered} == sample

    # A fast ARP sweep of the whole /16 hears every host: the fleet's port hands each request
    # to its owner (flooded to 300 macvlans, 65k broadcasts overflowed the kernel's queue).
    ctx = ScanContext(build_targets(["198.19.0.0/16"]), rate=20_000)
    with fleet.in_scanner_ns():
        found = asyncio.run(arp.sweep(ctx.targets, ctx, fleet.scanner_iface, mac, "198.19.0.1", wait=0.5))
    assert found == {d["ip"]: d["mac"] for d in truth}

    # WS-Discovery: one ProbeMatch per ONVIF host of the fleet (each macvlan host its own responder)
    probe = ('<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
             'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Header>'
             f'<w:MessageID>uuid:{uuid.uuid4()}</w:MessageID></e:Header><e:Body><d:Probe/></e:Body></e:Envelope>')
    replies = scanner_side(fleet).sweep(("239.255.255.250", 3702), probe.encode(), wait=2.0)
    onvif_hosts = {d["ip"] for d in truth if "onvif-wsd" in d["udp"]}
    assert {addr[0] for _, addr in replies} == onvif_hosts

    pid = status["pid"]
    fleet.down()
    assert leftovers(fleet.name) == [] and not server_alive(pid)


def test_down_is_idempotent_and_removes_exactly_its_own_namespaces(lab_factory, lab) -> None:
    small = lab_factory(only=["hikvision-camera", "hikvision-routed"])
    names = set(leftovers(small.name))
    assert names == {f"ca-{small.name}-{s}" for s in ("scan", "lan", "rtr", "d0", "d1")}
    pid = small.status()["pid"]
    small.down()
    small.down()
    assert leftovers(small.name) == [] and not server_alive(pid)
    assert lab.status()["up"], "removing one lab must not touch another"
    assert small.status() == {"name": small.name, "up": False, "leftover_namespaces": []}


class _BrokenServerLab(Lab):
    def _start_server(self, plan, chatter):  # the server fails to start after the network was built
        raise LabError("injected: server did not start")


def test_failed_start_removes_everything_it_built() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    broken = _BrokenServerLab(f"b{os.getpid() % 100000}")
    try:
        with pytest.raises(LabError, match="injected"):
            broken.up(only=["hikvision-camera"])
        assert leftovers(broken.name) == []
        assert not broken.state_path.exists()
    finally:
        broken.down()


def test_up_refuses_a_lab_that_is_already_up(lab) -> None:
    with pytest.raises(LabError, match="already up"):
        Lab(lab.name).up()


def test_cli_round_trip_leaves_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"c{os.getpid() % 100000}"
    cli = [sys.executable, "-m", "camaudit"]
    extra = tmp_path / "extra.toml"
    extra.write_text('id = "extra-plug"\n[truth]\nflagged = false\n[net]\nip = "198.18.0.99"\n'
                     'mac = "02:00:00:00:00:99"\n[[tcp]]\nport = 1883\n')
    try:
        up = subprocess.run(cli + ["lab", "up", "--name", name, "--only", "hikvision-camera", "--only", "extra-plug",
                                   "--personas", str(extra)], capture_output=True, text=True, timeout=60)
        assert up.returncode == 0, up.stderr
        status = json.loads(subprocess.run(cli + ["lab", "status", "--name", name], capture_output=True,
                                           text=True, check=True).stdout)
        assert status["up"] and status["devices"] == 2
        truth = json.loads(subprocess.run(cli + ["lab", "truth", "--name", name], capture_output=True,
                                          text=True, check=True).stdout)
        assert {d["persona"]: d["ip"] for d in truth} == {"hikvision-camera": "198.18.0.10", "extra-plug": "198.18.0.99"}
        ran = subprocess.run(cli + ["lab", "exec", "--name", name, "--", "ip", "-4", "-o", "addr", "show", "lab0"],
                             capture_output=True, text=True)
        assert ran.returncode == 0 and "198.18.0.1/24" in ran.stdout
        again = subprocess.run(cli + ["lab", "up", "--name", name], capture_output=True, text=True)
        assert again.returncode == 3 and "already up" in again.stderr
    finally:
        down = subprocess.run(cli + ["lab", "down", "--name", name], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert leftovers(name) == [] and not server_alive(status["pid"])


def test_cli_reports_bad_persona_file_with_usage_exit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "Bad Id"\n')
    result = subprocess.run([sys.executable, "-m", "camaudit", "lab", "personas", "--personas", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and f"{bad}: id:" in result.stderr


def test_unplugged_device_disappears_and_comes_back_with_its_identity(lab_factory, scanner_side) -> None:
    small = lab_factory(only=["hikvision-camera", "dahua-camera"])
    client = scanner_side(small)
    assert small.unplug("dahua-camera")["ip"] == "198.18.0.20"
    with pytest.raises(OSError):
        client.request("198.18.0.20", 80, b"GET / HTTP/1.0\r\n\r\n", timeout=2)
    assert client.http("198.18.0.10")[0] == 200, "the other device is unaffected"
    small.plug("198.18.0.20")
    status, headers, _, _ = client.http("198.18.0.20")
    assert status == 200 and "server" not in headers
    neigh = small.exec(["ip", "-4", "neigh", "show", "198.18.0.20"], capture_output=True, text=True).stdout
    assert "74:c9:29:20:00:20" in neigh
    with pytest.raises(LabError, match="0 devices matching"):
        small.unplug("no-such-device")


FAILING_RUN = '''
import os, signal, time
from pathlib import Path

def test_fails_after_making_a_lab(lab_factory):
    made = lab_factory(only=["hikvision-camera"])
    Path(os.environ["LAB_NAMES"]).open("a").write(made.name + "\\n")
    assert False, "deliberate failure"

def test_killed_while_a_lab_is_up(lab_factory):
    made = lab_factory(only=["hikvision-camera"])
    Path(os.environ["LAB_NAMES"]).open("a").write(made.name + "\\n")
    os.kill(os.getpid(), signal.SIG)
    time.sleep(30)
'''


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_failed_and_interrupted_runs_leave_no_namespace(tmp_path: Path, sig: str) -> None:
    """A pytest run whose test fails, then is interrupted, removes the labs it made."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    (tmp_path / "test_leak.py").write_text(FAILING_RUN.replace("signal.SIG)", f"signal.{sig})"))
    names = tmp_path / "names.txt"
    tests_dir = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LAB_NAMES": str(names), "PYTHONPATH": str(tests_dir)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), str(tmp_path / "test_leak.py")],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert "deliberate failure" in run.stdout, run.stdout + run.stderr
    made = names.read_text().split()
    assert len(made) == 2, run.stdout + run.stderr
    for name in made:
        assert leftovers(name) == [], f"{name} leaked after a {sig}"
        assert not Path(f"/run/camaudit-lab/{name}.json").exists()
