"""Lab chatter: `[chatter]` validation names file and key; the frames the lab writes are
well-formed (scapy, an independent parser, reads them and their checksums); chatter is off
unless the lab is started with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from camaudit.lab.persona import PersonaError, load
from camaudit.lab.persona_chatter import DhcpClient, LldpAgent
from camaudit.lab.server import chatter
from tests.lab.test_personas import MINIMAL as BASE


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "p.toml"
    path.write_text(BASE + text)
    return load(path)


@pytest.mark.parametrize("text, where", [
    ('[chatter]\nkinds = ["sadp"]\n', "chatter.kinds: 'sadp' announces the persona's [sadp] section"),
    ('[chatter]\nkinds = ["telnet"]\n', "chatter.kinds: expected distinct kinds"),
    ('[chatter]\nkinds = ["dhcp"]\n', "chatter.dhcp: missing (required for kind 'dhcp')"),
    ('[chatter]\nkinds = ["lldp"]\n[chatter.lldp]\nsystem_name = "a"\nport_id = "p"\n',
     "chatter.lldp.system_description: missing"),
    ('[chatter]\nkinds = ["dhcp"]\ninterval = 0.0\n', "chatter.interval: expected 0.05-3600.0"),
    ('[chatter]\nkinds = ["dhcp"]\nbehaviour = "late"\n', "chatter.behaviour: expected one of"),
    ('[chatter]\nkinds = ["dhcp"]\n[chatter.dhcp]\nhostname = "h"\nvendor_class = "v"\nrequest_list = [300]\n',
     "chatter.dhcp.request_list: expected DHCP option codes"),
    ('[chatter]\nkinds = ["dhcp"]\nspeed = 1\n[chatter.dhcp]\nhostname = "h"\nvendor_class = "v"\nrequest_list = [1]\n',
     "chatter.speed: unknown key"),
])
def test_bad_chatter_is_refused_naming_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(PersonaError) as err:
        _load(tmp_path, text)
    assert str(err.value).startswith(f"{tmp_path / 'p.toml'}: {where}")


def test_lldp_system_description_defaults_to_the_snmp_sys_descr(tmp_path: Path) -> None:
    p = _load(tmp_path, '[snmp]\ncommunity = "c"\nsys_descr = "VRP"\n'
                        '[chatter]\nkinds = ["lldp"]\n[chatter.lldp]\nsystem_name = "a"\nport_id = "p"\n')
    assert p.chatter.lldp.system_description == "VRP"  # type: ignore[attr-defined]


def test_udp_frames_parse_with_valid_checksums_and_group_macs() -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    raw = chatter.udp_frame("c0:56:e3:10:00:10", "198.18.0.10", 37020, ("239.255.255.250", 37020), b"<ProbeMatch/>")
    pkt = Ether(raw)
    assert pkt[Ether].dst == "01:00:5e:7f:ff:fa" and pkt[IP].ttl == 1
    again = Ether(raw)
    del again[IP].chksum, again[UDP].chksum         # scapy recomputes: must equal what was sent
    assert Ether(bytes(again))[IP].chksum == pkt[IP].chksum
    assert Ether(bytes(again))[UDP].chksum == pkt[UDP].chksum
    assert bytes(pkt[UDP].payload) == b"<ProbeMatch/>"
    assert Ether(chatter.udp_frame("c0:56:e3:10:00:10", "0.0.0.0", 68, ("255.255.255.255", 67), b"x"))[Ether].dst \
        == "ff:ff:ff:ff:ff:ff"


def test_dhcp_and_lldp_messages_read_as_their_standards_say() -> None:
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import Ether
    from scapy.contrib.lldp import LLDPDUManagementAddress, LLDPDUSystemDescription, LLDPDUSystemName

    client = DhcpClient("IP CAMERA", "udhcp 1.20.2", (1, 3, 6, 12, 15, 28, 42))
    message = chatter.dhcp_message(client, "c0:56:e3:10:00:10", "198.18.0.10", True, 7)
    pkt = Ether(chatter.udp_frame("c0:56:e3:10:00:10", "0.0.0.0", 68, ("255.255.255.255", 67), message))
    options = dict(o for o in pkt[DHCP].options if isinstance(o, tuple))
    assert pkt[UDP].dport == 67 and pkt[BOOTP].xid == 7
    assert options["message-type"] == 3 and options["requested_addr"] == "198.18.0.10"
    assert options["hostname"] == b"IP CAMERA" and options["vendor_class_id"] == b"udhcp 1.20.2"
    assert options["param_req_list"] == [1, 3, 6, 12, 15, 28, 42]

    agent = LldpAgent("HUAWEI", "VRP", "GigabitEthernet0/0/1")
    lldp = Ether(chatter.lldp_frame("00:18:82:80:00:80", chatter.lldpdu(agent, "00:18:82:80:00:80", "198.18.0.80", 2)))
    assert lldp[Ether].dst == "01:80:c2:00:00:0e" and lldp[Ether].type == 0x88CC
    assert lldp[LLDPDUSystemName].system_name == b"HUAWEI"
    assert lldp[LLDPDUSystemDescription].description == b"VRP"
    assert lldp[LLDPDUManagementAddress].management_address == b"\xc6\x12\x00\x50"


@pytest.mark.lab
def test_chatter_is_off_unless_the_lab_is_started_with_it(lab_factory) -> None:
    import time

    quiet = lab_factory(only=["hikvision-camera", "huawei-switch"])
    assert all(row["chatter"] == [] for row in quiet.truth())
    with quiet.capture() as cap:
        time.sleep(1.5)                                 # past the first chatter round of a chattering lab
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import Ether
    unasked = [p.summary() for p in cap.packets() if UDP in p or (Ether in p and p[Ether].type == 0x88CC)]
    assert unasked == []
