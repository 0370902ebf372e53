"""Persona files: the shipped set is valid and complete; bad files fail naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from camaudit.lab.persona import PersonaError, load, load_many, shipped_paths

MINIMAL = '''
id = "x-device"
[truth]
flagged = false
[net]
ip = "198.18.0.99"
mac = "02:00:00:00:00:99"
'''


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_personas_load_with_unique_ids_addresses_and_macs() -> None:
    personas = load_many(shipped_paths())
    ids = {p.id for p in personas}
    required = {"hikvision-camera", "hikvision-nvr", "ezviz-camera", "lts-camera", "dahua-camera",
                "amcrest-camera", "lorex-nvr", "huawei-gateway", "zte-router", "hytera-radio",
                "uniview-camera", "axis-camera", "bosch-camera", "hanwha-camera", "goahead-webs",
                "printer-hp", "linux-nginx", "randomized-mac", "hikvision-routed",
                "huawei-ont", "zte-ont", "hikvision-nvr-ssdp", "synology-nas", "huawei-firewall",
                "zte-olt", "zte-switch", "cisco-switch", "h3c-switch-cli", "hostile-ssh-endless", "hostile-telnet-iac"}
    assert required <= ids
    by_id = {p.id: p for p in personas}
    assert by_id["hikvision-routed"].segment == "routed"
    assert int(by_id["randomized-mac"].mac[:2], 16) & 0x02, "randomized MAC must be locally administered"
    assert by_id["lts-camera"].truth.vendor == "Hikvision" and by_id["lts-camera"].truth.brand == "LTS"
    assert not by_id["axis-camera"].truth.flagged and by_id["dahua-camera"].truth.flagged
    ssdp = {p.id for p in personas if p.ssdp}
    assert {"huawei-ont", "zte-ont", "hikvision-nvr-ssdp", "synology-nas"} <= ssdp
    assert by_id["zte-ont"].tcp_ports == [23, 52869]   # Telnet banner + the description's port
    hytera = by_id["hytera-radio"]
    assert not hytera.http and not hytera.rtsp and hytera.onvif is None, "Hytera is OUI-only (plus one quiet port)"
    assert [s.type for s in by_id["hikvision-mdns"].mdns.services] == ["_CGI._tcp"]
    assert by_id["onvif-wsd2009"].onvif.wsd_versions == {"2009"}
    assert by_id["dahua-camera"].onvif.wsd_versions == {"2005", "2009"}


def test_minimal_persona_loads(tmp_path: Path) -> None:
    p = load(write(tmp_path, MINIMAL))
    assert p.id == "x-device" and p.oui == "02:00:00" and p.tcp_ports == []


@pytest.mark.parametrize("edit, key, words", [
    (lambda t: t.replace('flagged = false', 'flagged = "no"'), "truth.flagged", "expected bool"),
    (lambda t: t.replace('[truth]\nflagged = false\n', ''), "truth", "missing"),
    (lambda t: t.replace('198.18.0.99', '10.0.0.5'), "net.ip", "must be a host of 198.18.0.0/24"),
    (lambda t: t.replace('02:00:00:00:00:99', '01:00:5e:00:00:01'), "net.mac", "multicast"),
    (lambda t: t + '\n[[http]]\nport = 80\n[[http.answer]]\nstatus = 200\n', "http[0].answer[0].path", "missing"),
    (lambda t: t + '\n[[http]]\nport = 80\nbehaviour = "explode"\n', "http[0].behaviour", "unknown behaviour"),
    (lambda t: t + '\n[[tcp]]\nport = 70000\n', "tcp[0].port", "out of range"),
    (lambda t: t + '\n[[tcp]]\nport = 8000\nbanner_hex = "zz"\n', "tcp[0].banner_hex", "not hex"),
    (lambda t: t + '\n[[tcp]]\nport = 23\nbehaviour = "endless"\nbehaviour_options = { filler_hex = "fffd0" }\n',
     "tcp[0].behaviour_options.filler_hex", "not hex"),
    (lambda t: t + '\n[onvif]\nmanufacturer = "X"\nmodel = "Y"\nscopes = []\n', "onvif.http_port", "needs an [[http]]"),
    (lambda t: t + '\n[sadp]\nreply_to = ["everyone"]\nfields = {}\n', "sadp.reply_to", "expected some of"),
    (lambda t: t + '\n[mdns]\n', "mdns.hostname", "missing"),
    (lambda t: t + '\n[mdns]\nhostname = "h"\n[[mdns.service]]\ninstance = "i"\ntype = "http"\nport = 80\n',
     "mdns.service[0].type", "expected a service type"),
    (lambda t: t + f'\n[mdns]\nhostname = "h"\n[[mdns.service]]\ninstance = "{"x" * 64}"\ntype = "_http._tcp"\nport = 80\n',
     "mdns.service[0].instance", "1-63 bytes"),
    (lambda t: t + '\n[[http]]\nport = 80\n[onvif]\nmanufacturer = "X"\nmodel = "Y"\nscopes = []\nwsd_versions = ["2011"]\n',
     "onvif.wsd_versions", "expected some of"),
    (lambda t: 'colour = "red"\n' + t, "colour", "unknown key"),
    (lambda t: t + 'colour = "red"\n', "net.colour", "unknown key"),
])
def test_bad_persona_names_file_and_key(tmp_path: Path, edit, key: str, words: str) -> None:
    path = write(tmp_path, edit(MINIMAL))
    with pytest.raises(PersonaError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert words in message


def test_invalid_toml_and_duplicate_addresses_are_reported(tmp_path: Path) -> None:
    broken = write(tmp_path, "id = \n", "broken.toml")
    with pytest.raises(PersonaError, match="broken.toml: not valid TOML"):
        load(broken)
    a = write(tmp_path, MINIMAL, "a.toml")
    b = write(tmp_path, MINIMAL.replace("x-device", "y-device").replace(":99", ":98"), "b.toml")
    with pytest.raises(PersonaError, match=r"198\.18\.0\.99 is also used by .*a\.toml"):
        load_many([a, b])
