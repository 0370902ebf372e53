"""The UPnP probe against lab personas: real SSDP datagrams, real description fetches, captured.

Personas: the Huawei ONT, the ZTE ONT, the Hikvision NVR and a Synology decoy answer SSDP
searches and serve their descriptions; the hostile ones send a LOCATION naming another host,
an endless description, an entity bomb and a reply flood with a deeply nested description.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from camaudit.engine import ScanOutcome, ScanPlan
from camaudit.engine import scan as engine_scan
from camaudit.fingerprints.loader import load_fingerprints
from camaudit.identify import identify
from camaudit.targets import build_targets

pytestmark = pytest.mark.lab

GOOD = ("huawei-ont", "zte-ont", "hikvision-nvr-ssdp", "synology-nas")
HOSTILE = ("hostile-upnp-location", "hostile-upnp-huge", "hostile-upnp-bomb", "hostile-upnp-flood")
LOCAL = "198.18.0.0/24"


@pytest.fixture(scope="module")
def ulab(lab: Any) -> Any:
    """The shared lab (every shipped persona): the UPnP devices next to all the others."""
    return lab


def scan(lab: Any, specs: list[str], excludes: tuple[str, ...] = (), probes: tuple[str, ...] | None = ("upnp",)
         ) -> ScanOutcome:
    targets = build_targets(specs, excludes=list(excludes))
    with lab.in_scanner_ns():
        return engine_scan(ScanPlan(targets=targets, probes=probes))


def by_persona(lab: Any, outcome: ScanOutcome) -> dict[str, list[Any]]:
    ips = {d["ip"]: d["persona"] for d in lab.truth()}
    out: dict[str, list[Any]] = {}
    for o in outcome.observations:
        if o.source == "upnp":
            out.setdefault(ips.get(o.ip, o.ip), []).append(o)
    return out


def test_personas_answer_ssdp_and_their_descriptions_are_read(ulab: Any) -> None:
    found = by_persona(ulab, scan(ulab, [LOCAL]))
    [huawei] = found["huawei-ont"]
    assert huawei.status == "ok" and huawei.port == 1900
    assert huawei.data["server"] == "Linux UPnP/1.0 Huawei-ATP-IGD"
    assert huawei.data["location"] == "http://198.18.0.60:37215/upnpdev.xml"
    assert huawei.data["st"] == ["upnp:rootdevice"] and huawei.data["usn"][0].endswith("::upnp:rootdevice")
    device = huawei.data["device"]
    assert device["manufacturer"] == "Huawei Technologies Co., Ltd." and device["modelName"] == "HG8245H5"
    assert device["serialNumber"] == "48575443A1B2C360" and device["UDN"].startswith("uuid:")
    assert device["deviceTypes"] == ["urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                                     "urn:schemas-upnp-org:device:WANDevice:1",
                                     "urn:schemas-upnp-org:device:WANConnectionDevice:1"]
    [zte] = found["zte-ont"]
    assert (zte.status, zte.data["device"]["manufacturer"], zte.data["device"]["modelName"]) == ("ok", "ZTE", "ZXHN F660")
    [hik] = found["hikvision-nvr-ssdp"]
    assert (hik.status, hik.data["device"]["manufacturer"]) == ("ok", "Hikvision")
    [nas] = found["synology-nas"]
    assert (nas.status, nas.data["device"]["manufacturer"]) == ("ok", "Synology")
    assert "hikvision-camera" not in found   # no SSDP responder: nothing invented


def test_identification_from_upnp_alone_equals_truth(ulab: Any, tmp_path: Path) -> None:
    """ARP (the MAC's organisation) plus UPnP only: vendor, flag and model come out as the truth."""
    outcome = scan(ulab, [LOCAL])
    fset = load_fingerprints(tmp_path)   # shipped data, no user OUI refresh
    idents = {i.ip: i for i in identify(outcome.observations, fset)}
    for d in ulab.truth():
        if d["persona"] not in GOOD:
            continue
        ident = idents[d["ip"]]
        assert (ident.vendor, ident.flagged, ident.model) == (d["vendor"], d["flagged"], d["model"]), d["persona"]
        upnp_evidence = [e for e in ident.evidence if e["source"] == "upnp"]
        assert upnp_evidence, d["persona"]


def test_location_naming_another_host_is_never_fetched(ulab: Any) -> None:
    """The hostile reply's LOCATION is the Huawei ONT's description URL. Scanning the hostile
    device alone (the ONT not a target), and the segment with the ONT excluded, no packet
    reaches the ONT; the observation says why nothing was fetched."""
    truth = {d["persona"]: d for d in ulab.truth()}
    hostile, victim = truth["hostile-upnp-location"]["ip"], truth["huawei-ont"]["ip"]
    for specs, excludes in (([hostile], ()), ([LOCAL], (victim,))):
        with ulab.capture(f"host {victim} or host {hostile}") as cap:
            found = by_persona(ulab, scan(ulab, specs, excludes))
        to_victim = [p for p in cap.involving(victim) if p.haslayer("IP") and p["IP"].dst == victim]
        assert to_victim == [], f"{len(to_victim)} packets to {victim} ({specs}, excluding {excludes})"
        [obs] = found["hostile-upnp-location"]
        assert obs.status == "ok"
        assert obs.data["location"] == f"http://{victim}:37215/upnpdev.xml"
        assert "is not the answering device" in obs.data["description_skipped"]
        assert "device" not in obs.data
        assert cap.involving(hostile), "the capture saw nothing: it could not have failed"
        assert "huawei-ont" not in found


def test_location_naming_another_permitted_host_is_not_followed(ulab: Any) -> None:
    """With both devices permitted, the ONT's description is fetched once: for the ONT's own
    reply, never a second time for the hostile reply that names it."""
    truth = {d["persona"]: d for d in ulab.truth()}
    victim = truth["huawei-ont"]["ip"]
    with ulab.capture(f"tcp and dst host {victim} and dst port 37215", snaplen=2048) as cap:
        found = by_persona(ulab, scan(ulab, [LOCAL]))
    gets = [p for p in cap.packets() if b"GET /upnpdev.xml " in bytes(p)]
    assert len(gets) == 1
    assert "is not the answering device" in found["hostile-upnp-location"][0].data["description_skipped"]
    assert found["huawei-ont"][0].data["device"]["modelName"] == "HG8245H5"


def test_excluded_ssdp_device_receives_nothing(ulab: Any) -> None:
    truth = {d["persona"]: d for d in ulab.truth()}
    excluded = truth["zte-ont"]["ip"]
    with ulab.capture(f"host {excluded}") as cap:
        found = by_persona(ulab, scan(ulab, [LOCAL], (excluded,)))
    # its answer to the multicast search is the only traffic; nothing is sent to it
    sent = [p for p in cap.involving(excluded) if p.haslayer("IP") and p["IP"].dst == excluded]
    assert sent == []
    assert "zte-ont" not in found and "huawei-ont" in found


def test_hostile_descriptions_are_bounded(ulab: Any) -> None:
    tracemalloc.start()
    started = time.monotonic()
    outcome = scan(ulab, [LOCAL])
    seconds = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    found = by_persona(ulab, outcome)
    statuses = {p: [o.status for o in found[p]] for p in HOSTILE}
    assert statuses == {"hostile-upnp-location": ["ok"], "hostile-upnp-huge": ["too-large"],
                        "hostile-upnp-bomb": ["protocol-error"], "hostile-upnp-flood": ["protocol-error"]}
    assert "nests deeper" in found["hostile-upnp-flood"][0].error
    assert "DTDForbidden" in found["hostile-upnp-bomb"][0].error
    assert "lollollol" not in json.dumps([[o.data, o.error] for o in outcome.observations])
    # the well-behaved devices next to them still answered in full
    assert all(found[p][0].status == "ok" and "device" in found[p][0].data for p in GOOD)
    print(f"upnp hostile scan: {seconds:.2f} s, Python allocation peak {peak // 1024} KiB, "
          f"{len(outcome.observations)} observations")
