"""Against the lab: the SSH and Telnet probes on the network-gear personas and their hostile
counterparts, with a capture of the lab link proving what our side put on the wire (SSH:
nothing; Telnet: IAC WONT/DONT refusals only)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes import ssh as ssh_mod
from camaudit.probes import telnet as telnet_mod
from camaudit.probes.ssh import SshProbe
from camaudit.probes.telnet import TelnetProbe
from camaudit.scan_context import ScanContext
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

IAC, DONT, WONT = 255, 254, 252
JOBS = [("huawei-firewall", 22), ("cisco-switch", 22), ("cisco-switch", 23), ("h3c-switch-cli", 22),
        ("h3c-switch-cli", 23), ("zte-olt", 23), ("zte-switch", 22), ("zte-switch", 23), ("hostile-ssh-endless", 22),
        ("hostile-ssh-endless", 2222), ("hostile-telnet-iac", 23), ("hostile-telnet-iac", 2323)]


@dataclass
class Result:
    obs: Observation
    seconds: float      # wall time of the probe call (reported, never asserted)
    sent: bytes         # TCP payload our side sent to that port, from the capture


@pytest.fixture(scope="module")
def results(lab: Any) -> dict[tuple[str, int], Result]:
    truth = {t["persona"]: t for t in lab.truth()}
    ctx_targets = build_targets(sorted({truth[p]["ip"] for p, _ in JOBS}))

    async def run() -> list[tuple[Observation, float]]:
        ctx = ScanContext(ctx_targets, source_ip=lab.scanner_ip, interface=lab.scanner_iface, on_link=True)

        async def one(persona: str, port: int) -> tuple[Observation, float]:
            probe = SshProbe() if port in (22, 2222) else TelnetProbe()
            start = time.monotonic()
            [obs] = await probe.probe(Host(truth[persona]["ip"], truth[persona]["mac"]), port, ctx)
            return obs, time.monotonic() - start
        return await asyncio.gather(*(one(p, port) for p, port in JOBS))

    with lab.capture(bpf="tcp") as cap:
        with lab.in_scanner_ns():
            done = asyncio.run(run())
    from scapy.layers.inet import IP, TCP
    payload: dict[tuple[str, int], dict[int, bytes]] = {}
    for pkt in cap.packets():
        if IP in pkt and TCP in pkt and pkt[IP].src == lab.scanner_ip and bytes(pkt[TCP].payload):
            payload.setdefault((pkt[IP].dst, pkt[TCP].dport), {})[pkt[TCP].seq] = bytes(pkt[TCP].payload)
    out = {}
    for (persona, port), (obs, seconds) in zip(JOBS, done):
        segments = payload.get((truth[persona]["ip"], port), {})
        out[(persona, port)] = Result(obs, seconds, b"".join(segments[s] for s in sorted(segments)))
    for key, r in out.items():   # the measurements the report quotes (pytest -s shows them)
        print(f"{key}: {r.obs.status} {r.seconds:.2f} s, {r.obs.data.get('length')} bytes read, sent {len(r.sent)}")
    return out


def refusals(sent: bytes) -> list[tuple[int, int]]:
    triples = [sent[i:i + 3] for i in range(0, len(sent), 3)]
    assert all(len(t) == 3 and t[0] == IAC and t[1] in (WONT, DONT) for t in triples), sent
    return [(t[1], t[2]) for t in triples]


@pytest.mark.parametrize("persona, software", [("huawei-firewall", "HUAWEI-1.5"), ("cisco-switch", "Cisco-1.25"),
                                               ("h3c-switch-cli", "Comware-5.20.105"), ("zte-switch", "ZTE_SSH.2.0")])
def test_ssh_identification_read_and_nothing_sent(results, persona: str, software: str) -> None:
    r = results[(persona, 22)]
    assert r.obs.status is ProbeStatus.OK, r.obs.error
    assert r.obs.data["identification"] == f"SSH-2.0-{software}"
    assert r.obs.data["softwareversion"] == software and r.obs.data["sent_identification"] is False
    assert r.sent == b""


def test_zte_olt_banner_negotiation_refused(results) -> None:
    r = results[("zte-olt", 23)]
    assert r.obs.status is ProbeStatus.OK, r.obs.error
    assert "Welcome to ZXAN product C320 of ZTE Corporation" in r.obs.data["banner"]
    assert r.obs.data["banner"].rstrip().endswith("Username:") and "\ufffd" not in r.obs.data["banner"]
    assert r.obs.data["negotiation"] == ["WILL ECHO", "DO NAWS", "DO TTYPE", "DO TSPEED", "WILL SGA"]
    assert refusals(r.sent) == [(DONT, 1), (WONT, 31), (WONT, 24), (WONT, 32), (DONT, 3)]


@pytest.mark.parametrize("persona, words", [("cisco-switch", "User Access Verification"),
                                            ("h3c-switch-cli", "New H3C Technologies"),
                                            ("zte-switch", "Welcome to ZXR10 Carrier-Class High-end Routing Switch")])
def test_other_telnet_banners_are_read_and_only_refusals_sent(results, persona: str, words: str) -> None:
    r = results[(persona, 23)]
    assert r.obs.status is ProbeStatus.OK and words in r.obs.data["banner"]
    assert len(refusals(r.sent)) == r.obs.data["refused"] > 0


def test_endless_ssh_line_and_lines_stay_bounded(results) -> None:
    line, lines = results[("hostile-ssh-endless", 22)], results[("hostile-ssh-endless", 2222)]
    assert line.obs.status is ProbeStatus.PROTOCOL_ERROR and len(line.obs.data["identification"]) == ssh_mod.IDENT_MAX
    assert lines.obs.status is ProbeStatus.TOO_LARGE and len(lines.obs.data["pre_lines"]) == ssh_mod.MAX_PRE_LINES
    for r in (line, lines):
        assert r.obs.data["length"] <= ssh_mod.MAX_TOTAL and r.sent == b""


def test_telnet_flood_and_drip_stay_bounded_and_get_refusals_only(results) -> None:
    flood, drip = results[("hostile-telnet-iac", 23)], results[("hostile-telnet-iac", 2323)]
    assert flood.obs.status is ProbeStatus.TOO_LARGE and flood.obs.data["length"] == telnet_mod.MAX_BYTES
    pairs = refusals(flood.sent)
    assert len(pairs) == len(set(pairs)) == telnet_mod.MAX_REFUSALS
    # a byte every 0.5 s: the deadline ends the read with what came, options refused as they came
    assert drip.obs.status is ProbeStatus.OK and drip.obs.data["length"] < 12
    assert len(refusals(drip.sent)) == drip.obs.data["refused"]
