"""A real scanner recognises the personas: nmap 7.93 `-sV` and `broadcast-wsdd-discover`,
run inside the scanner namespace (always `-n`: there is no DNS in the lab)."""

from __future__ import annotations

import shutil

import defusedxml.ElementTree as ET
import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed (make deps-runtime)")]

HIK, DAHUA = "198.18.0.10", "198.18.0.20"


def services(xml: str) -> dict[tuple[str, int], str]:
    """(ip, port) -> "product extrainfo" from nmap XML."""
    out = {}
    for host in ET.fromstring(xml).iter("host"):
        ip = next(a.get("addr") for a in host.iter("address") if a.get("addrtype") == "ipv4")
        for port in host.iter("port"):
            svc = port.find("service")
            if svc is not None:
                out[(ip, int(port.get("portid")))] = f"{svc.get('product', '')} {svc.get('extrainfo', '')}".strip()
    return out


@pytest.fixture(scope="module")
def version_scan(lab) -> str:
    """nmap -sV -O XML of the Hikvision and Dahua personas (one run shared by the tests)."""
    result = lab.exec(["nmap", "-n", "-Pn", "-sV", "-O", "-p", "80,554,8000", HIK, DAHUA, "-oX", "-"],
                      capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_nmap_version_scan_names_hikvision_and_dahua_services(version_scan: str) -> None:
    found = services(version_scan)
    assert found[(HIK, 80)] == "Hikvision IP camera httpd"
    assert found[(HIK, 554)].startswith("Hikvision") and "rtspd" in found[(HIK, 554)]
    assert found[(HIK, 8000)] == "Hikvision IPCam control port"
    assert found[(DAHUA, 80)] == "Dahua webcam httpd"
    assert found[(DAHUA, 554)] == "Dahua IP camera rtspd"


def test_import_keeps_nmaps_best_os_guesses_and_identifies_through_them(version_scan: str) -> None:
    """The personas run on Linux, so nmap's best OS guess is a Linux kernel; its lower guesses
    (other makers' cameras and routers, nmap 7.93 lists ten) must not reach the identification."""
    from camaudit.identify import identify
    from camaudit.imports.nmap_xml import observations, read_bytes

    best = {}
    for host in ET.fromstring(version_scan).iter("host"):
        ip = next(a.get("addr") for a in host.iter("address") if a.get("addrtype") == "ipv4")
        best[ip] = max(int(m.get("accuracy")) for m in host.iter("osmatch"))
    imported = list(observations(read_bytes(version_scan.encode())))
    whole = {o.ip: o.data["osmatch"] for o in imported if o.source == "nmap" and o.port is None}
    assert set(whole) == {HIK, DAHUA}
    for ip, guesses in whole.items():
        assert {g["accuracy"] for g in guesses} == {best[ip]}
        assert any(c.startswith("cpe:/o:linux:linux_kernel") for g in guesses for k in g["osclass"] for c in k["cpe"])
    named = {i.ip: i.vendor for i in identify(imported)}
    assert named[HIK] == "Hikvision" and named[DAHUA] == "Dahua"


# The camera personas this area ships (the hostile set floods WS-Discovery on purpose, which
# can drown replies in nmap's socket buffer: that is tests/hostile's subject, not this one).
ONVIF_PERSONAS = ["hikvision-camera", "hikvision-nvr", "lts-camera", "dahua-camera", "amcrest-camera",
                  "uniview-camera", "axis-camera", "bosch-camera", "hanwha-camera"]


def test_broadcast_wsdd_discover_lists_the_onvif_personas(lab_factory) -> None:
    cams = lab_factory(only=ONVIF_PERSONAS + ["hikvision-routed", "linux-nginx"])
    result = cams.exec(["nmap", "-n", "-e", cams.scanner_iface, "--script", "broadcast-wsdd-discover"],
                       capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    truth = cams.truth()
    onvif = {d["ip"] for d in truth if d["persona"] in ONVIF_PERSONAS}
    assert len(onvif) == len(ONVIF_PERSONAS)
    for ip in onvif:
        assert f"Address: http://{ip}/onvif/device_service" in result.stdout, f"{ip} missing from:\n{result.stdout}"
    assert result.stdout.count("Address: http://") == 4 * len(onvif), "each device answers both probes of both variants"
    others = [d["ip"] for d in truth if d["persona"] not in ONVIF_PERSONAS]
    assert not [ip for ip in others if ip in result.stdout], "no answer from non-ONVIF or routed devices"
