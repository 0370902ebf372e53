"""A device that answers a sweep after its window must not be answered back.

An excluded device hears the scan's multicast like every other and may answer it. When the
answer arrives after the sweep stopped listening and its port is closed, the kernel sends
the device an ICMP port-unreachable: a packet to an excluded address. The scan's sweep
sockets stay bound until the scan ends (camaudit.sweep_ports), so the late answer is
dropped in silence.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.engine.conftest import scan_in

pytestmark = pytest.mark.lab
LATE = Path(__file__).parent / "personas" / "late-sadp.toml"


def test_a_late_answer_from_an_excluded_device_draws_no_packet(lab_factory) -> None:
    from scapy.layers.inet import IP, UDP

    lab = lab_factory(only=["late-sadp", "hikvision-camera", "hostile-silent"], extra_personas=[LATE])
    ip = {d["persona"]: d["ip"] for d in lab.truth()}
    late = ip["late-sadp"]
    with lab.capture(f"host {late}") as cap:
        # the tarpit keeps the scan busy for its read timeout, well past the late answer
        out = scan_in(lab, [ip["hikvision-camera"], ip["hostile-silent"], late], excludes=[late],
                      probes=("sadp", "http"))
        time.sleep(0.5)
    packets = cap.packets()
    answers = [p for p in packets if IP in p and p[IP].src == late and UDP in p and p[UDP].sport == 37020]
    assert answers, "the excluded device's late SADP answer was not on the wire: the test proves nothing"
    assert [p.summary() for p in packets if IP in p and p[IP].dst == late] == []
    assert not any(o.ip == late for o in out.observations)
    assert any(o.source == "sadp" and o.ip == ip["hikvision-camera"] for o in out.observations)
