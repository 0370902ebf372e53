"""A whole `camaudit scan` of a LAN full of hostile devices, next to two well-behaved cameras.

What it checks: the scan completes; every hostile device is recorded with the probe
status that says what it did (not a crash, not silence); the scanner's memory stays bounded
(peak RSS measured on the scanner process); and the reference cameras are identified exactly
as in a scan without the hostile devices. Expectations are per persona, so a persona added
without an expectation fails the test rather than going unchecked.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from camaudit.lab.topology import LAB_SNMP_COMMUNITY, LAB_SNMP_USERS
from camaudit.probes.http import PATHS

REFERENCE = ("hikvision-camera", "dahua-camera")   # well-behaved devices that must stay unaffected

pytestmark = pytest.mark.lab

# (source, port) -> statuses that are a correct account of the persona's behaviour.
EXPECT: dict[str, dict[tuple[str, int], set[str]]] = {
    "hostile-soap-bomb": {("onvif", 80): {"protocol-error"}, ("http", 80): {"ok"}},
    "hostile-soap-xxe": {("onvif", 80): {"protocol-error"}, ("http", 8080): {"ok"}},
    "hostile-wsd-bomb": {("onvif", 3702): {"protocol-error"}, ("http", 80): {"timeout"}},
    "hostile-wsd-flood": {("onvif", 3702): {"ok"}, ("http", 80): {"reset"}},
    "hostile-wsd-encoding": {("onvif", 3702): {"protocol-error"}, ("http", 80): {"reset"}},
    "hostile-sadp-huge": {("sadp", 37020): {"too-large"}},
    "hostile-sadp-malformed": {("sadp", 37020): {"protocol-error"}},
    "hostile-sadp-spoof": {("sadp", 37020): {"ok"}},
    "hostile-dhip-nested": {("dhip", 37810): {"protocol-error"}},
    "hostile-dhip-garbage": {("dhip", 37810): {"protocol-error"}},
    "hostile-dhip-spoof": {("dhip", 37810): {"ok"}},
    "hostile-dhip-text": {("dhip", 37810): {"ok"}},
    "hostile-http-endless": {("http", 80): {"too-large"}, ("http", 8080): {"too-large"}},
    "hostile-drip": {("http", 80): {"timeout"}, ("rtsp", 554): {"timeout"}},
    "hostile-garbage": {("http", 80): {"protocol-error"}, ("rtsp", 554): {"timeout", "protocol-error"},
                        ("banner", 8000): {"ok"}},
    "hostile-reset": {("http", 80): {"reset"}, ("rtsp", 554): {"reset"}, ("banner", 37777): {"reset"}},
    "hostile-silent": {("http", 80): {"timeout"}, ("rtsp", 554): {"timeout"}, ("banner", 8000): {"timeout"}},
    "hostile-bad-utf8": {("http", 80): {"ok"}, ("rtsp", 554): {"ok"}},
    "hostile-every-port": {("http", 80): {"ok"}, ("http", 8080): {"ok"}, ("banner", 8000): {"ok"},
                           ("banner", 37777): {"ok"}, ("rtsp", 554): {"protocol-error"},
                           ("tls", 443): {"tls-error"}, ("tls", 8443): {"tls-error"},
                           ("ssh", 22): {"timeout"}, ("telnet", 23): {"ok"}},
    "hostile-tls-stall": {("tls", 443): {"timeout"}, ("tls", 8443): {"timeout"},
                          ("https", 443): {"timeout"}, ("https", 8443): {"timeout"}},
    "hostile-redirect": {("http", 80): {"ok"}},
    "hostile-upnp-location": {("upnp", 1900): {"ok"}},
    "hostile-upnp-huge": {("upnp", 1900): {"too-large"}},
    "hostile-upnp-bomb": {("upnp", 1900): {"protocol-error"}},
    "hostile-upnp-flood": {("upnp", 1900): {"protocol-error"}},
    "hostile-mdns-loop": {("mdns", 5353): {"protocol-error"}},
    # chatter-only hostiles (tests/passive): to an active scan, an ordinary SADP camera and a 404 page
    "hostile-chatter-flood": {("sadp", 37020): {"ok"}},
    "hostile-chatter-oversize": {("http", 80): {"ok"}},
    "hostile-chatter-malformed": {},
    "hostile-mdns-flood": {("mdns", 5353): {"ok"}},
    "hostile-mdns-rdlength": {("mdns", 5353): {"protocol-error"}},
    "hostile-snmp-length": {("snmp", 161): {"protocol-error"}},
    "hostile-snmp-huge": {("snmp", 161): {"too-large"}},
    "hostile-snmp-malformed": {("snmp", 161): {"protocol-error"}},
    "hostile-ssh-endless": {("ssh", 22): {"protocol-error"}},
    "hostile-telnet-iac": {("telnet", 23): {"too-large"}},
    "hostile-snmp-engine-churn": {("snmp", 161): {"protocol-error"}},
    "hostile-snmp-v3-length": {("snmp", 161): {"protocol-error"}},
}
IDENTITY_KEYS = ("mac", "vendor", "brand", "model", "firmware", "serial", "flagged", "policies", "device_type")
MEMORY_HEADROOM_KIB = 64 * 1024     # hostile devices may cost the scanner at most this much more
MEMORY_CEILING_KIB = 400 * 1024


def hostile_ids() -> list[str]:
    """Shipped hostile personas (hostile-payloads is the exports area's injection device)."""
    from camaudit.lab import select_personas
    return sorted(p.id for p in select_personas(None) if p.id.startswith("hostile-") and p.id != "hostile-payloads")


@pytest.fixture(scope="module")
def hostile_lab() -> Any:
    """Every shipped hostile persona plus the reference cameras, named per process (`hs<pid>`)
    so parallel runs never collide; torn down by exact names, also when a test fails."""
    if os.geteuid() != 0:
        pytest.skip("the hostile lab needs root (network namespaces)")
    from camaudit.lab import Lab

    lab = Lab(f"hs{os.getpid() % 10**6}")
    try:
        lab.up(only=[*REFERENCE, *hostile_ids()])
        yield lab
    finally:
        lab.down()


def scan(run_camaudit: Any, lab: Any, tmp: Path, *targets: str) -> tuple[Any, dict[str, Any], dict[str, list[dict]]]:
    tmp.mkdir(parents=True, exist_ok=True)
    obs_file = tmp / "obs.jsonl"
    config = tmp / "config.toml"   # SNMPv3 users come from the config file only
    config.write_text("".join("[[snmp.users]]\n" + "".join(f'{k} = "{v}"\n' for k, v in user.items())
                              for user in LAB_SNMP_USERS))
    run = run_camaudit(lab, "scan", *targets, "--config", str(config), "--db", f"sqlite:///{tmp / 'inv.sqlite3'}",
                       "--json", "--snmp-community", LAB_SNMP_COMMUNITY,
                       "--observations-out", str(obs_file), workdir=tmp)
    assert run.returncode in (0, 1), run.stderr
    observations: dict[str, list[dict]] = defaultdict(list)
    with obs_file.open(encoding="utf-8") as fh:
        for line in fh:
            o = json.loads(line)
            observations[o["ip"]].append(o)
    return run, json.loads(run.stdout), observations


@pytest.fixture(scope="module")
def scans(hostile_lab, camaudit_in_lab, tmp_path_factory) -> dict[str, Any]:
    truth = {d["persona"]: d for d in hostile_lab.truth()}
    refs = [truth[p]["ip"] for p in REFERENCE]
    base = tmp_path_factory.mktemp("baseline")
    baseline = scan(camaudit_in_lab, hostile_lab, base, *refs)
    work = tmp_path_factory.mktemp("hostile")
    with hostile_lab.capture("tcp dst port 80 and dst host " + truth["hikvision-camera"]["ip"]) as cap:
        hostile = scan(camaudit_in_lab, hostile_lab, work, "198.18.0.0/24")
    return {"truth": truth, "baseline": baseline, "hostile": hostile, "db": work / "inv.sqlite3",
            "to_camera_80": [bytes(p) for p in cap.packets()]}


def test_every_hostile_persona_has_an_expectation() -> None:
    assert sorted(EXPECT) == hostile_ids()
    assert len(EXPECT) >= 12


def test_scan_completes_and_records_each_hostile_device_with_its_status(scans, figures) -> None:
    run, report, observations = scans["hostile"]
    assert run.returncode == 1, run.stderr      # the reference cameras are flagged
    devices = {d["ip"]: d for d in report["devices"]}
    survived, problems = 0, []
    for persona, expected in EXPECT.items():
        ip = scans["truth"][persona]["ip"]
        got: dict[tuple[str, int], set[str]] = defaultdict(set)
        for o in observations.get(ip, []):
            got[(o["source"], o["port"])].add(o["status"])
        wrong = {k: (sorted(got.get(k, ())), sorted(v)) for k, v in expected.items() if not got.get(k) or not got[k] <= v}
        if ip not in devices:
            wrong["identification"] = "missing"
        if wrong:
            problems.append(f"{persona} ({ip}): got vs expected {wrong}")
        else:
            survived += 1
    figures("hostile-scan", survived=survived, tried=len(EXPECT), scan_seconds=round(run.seconds, 1),
             observations=sum(map(len, observations.values())))
    assert not problems, "\n".join(problems)


def test_no_probe_crashed_and_nothing_hostile_was_expanded_or_fetched(scans) -> None:
    _, report, observations = scans["hostile"]
    everything = [o for obs in observations.values() for o in obs]
    crashed = [o for o in everything if o["status"] == "error"]
    assert not crashed, crashed[:3]
    text = json.dumps(everything) + json.dumps(report)
    assert "root:x:0:0" not in text                 # XXE: /etc/passwd never read
    assert "lollollol" not in text                  # entity bombs never expanded


def test_reference_cameras_are_unaffected(scans) -> None:
    _, base_report, _ = scans["baseline"]
    _, report, observations = scans["hostile"]
    before = {d["ip"]: d for d in base_report["devices"]}
    after = {d["ip"]: d for d in report["devices"]}
    for persona in REFERENCE:
        ip = scans["truth"][persona]["ip"]
        assert before[ip]["flagged"], f"{persona} should be flagged in the baseline"
        assert {k: after[ip].get(k) for k in IDENTITY_KEYS} == {k: before[ip].get(k) for k in IDENTITY_KEYS}
        # the discovery answers of the real cameras still arrive next to floods, bombs and nesting
        discovery = {(o["source"], o["port"]) for o in observations[ip] if o["status"] == "ok"}
        wanted = {("onvif", 3702), ("sadp", 37020) if persona == "hikvision-camera" else ("dhip", 37810)}
        assert wanted <= discovery, discovery


def test_spoofed_discovery_replies_stay_on_the_spoofer(scans) -> None:
    """SADP/DHIP replies claiming the cameras' MACs are filed under the sender's ARP MAC."""
    _, report, observations = scans["hostile"]
    truth = scans["truth"]
    for spoofer, victim, source in (("hostile-sadp-spoof", "hikvision-camera", "sadp"),
                                    ("hostile-dhip-spoof", "dahua-camera", "dhip")):
        [reply] = [o for o in observations[truth[spoofer]["ip"]] if o["source"] == source]
        assert reply["mac"] == truth[spoofer]["mac"] != truth[victim]["mac"]
        victim_macs = {o["mac"] for o in observations[truth[victim]["ip"]]}
        assert victim_macs == {truth[victim]["mac"]}
    by_mac = [d for d in report["devices"] if d["mac"] == truth["hikvision-camera"]["mac"]]
    assert [d["ip"] for d in by_mac] == [truth["hikvision-camera"]["ip"]]


def test_flood_and_redirects_stay_bounded(scans) -> None:
    _, _, observations = scans["hostile"]
    truth = scans["truth"]
    flood = [o for o in observations[truth["hostile-wsd-flood"]["ip"]] if o["port"] == 3702]
    assert len(flood) == 1                          # 1500 datagrams merged into one record
    redirect = [o for o in observations[truth["hostile-redirect"]["ip"]] if o["source"] == "http"]
    assert len(redirect) <= len(PATHS) + 3          # the table, the favicon and two hops
    paths = [o["data"]["path"] for o in redirect]
    assert paths.count("/") == 1 and "/a" in paths  # the loop was cut, not walked again
    # the off-host redirect to the camera was not followed: the camera saw only its own probe's GET
    isapi = [p for p in scans["to_camera_80"] if b"GET /ISAPI/Security/userCheck " in p]
    assert len(isapi) == 1


def test_bad_utf8_is_replaced_and_stored(scans) -> None:
    _, _, observations = scans["hostile"]
    [root] = [o for o in observations[scans["truth"]["hostile-bad-utf8"]["ip"]]
              if o["source"] == "http" and o["data"].get("path") == "/"]
    assert "\ufffd" in root["data"]["headers"]["Server"] and "\ufffd" in root["data"]["title"]
    with sqlite3.connect(scans["db"]) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_invalid_text_is_replaced_stored_and_named_in_the_warnings(scans) -> None:
    """A lone surrogate and a NUL in one device's DHIP reply: that device is stored with
    U+FFFD in their place, named in the scan's warnings, and every other device is stored."""
    _, summary, observations = scans["hostile"]
    ip = scans["truth"]["hostile-dhip-text"]["ip"]
    [dhip] = [o for o in observations[ip] if o["source"] == "dhip"]
    assert dhip["data"]["fields"]["DeviceType"] == "X\ufffdY" and dhip["data"]["fields"]["SerialNo"] == "S\ufffdN"
    named = [w for w in summary["warnings"] if "not valid UTF-8" in w]
    assert named and all(w.startswith(f"{ip} ") for w in named), named  # binary banners' NULs are no warning
    with sqlite3.connect(scans["db"]) as db:
        stored = {row[0] for row in db.execute("SELECT DISTINCT ip FROM observations")}
    assert stored >= set(observations), sorted(set(observations) - stored)


def test_scanner_memory_stays_bounded(scans, figures) -> None:
    base, hostile = scans["baseline"][0], scans["hostile"][0]
    figures("hostile-scan", peak_rss_mib=round(hostile.peak_rss_kib / 1024, 1),
             baseline_rss_mib=round(base.peak_rss_kib / 1024, 1))
    assert hostile.peak_rss_kib < base.peak_rss_kib + MEMORY_HEADROOM_KIB
    assert hostile.peak_rss_kib < MEMORY_CEILING_KIB

