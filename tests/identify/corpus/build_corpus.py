"""Rebuild recog.jsonl and nmap.jsonl, the public-example part of the identification corpus.

Usage: python tests/identify/corpus/build_corpus.py RECOG_CHECKOUT NMAP_SERVICE_PROBES

* RECOG_CHECKOUT: a checkout of github.com/rapid7/recog. Every `<example>` of the XML files
  below (SSH and Telnet banners into recog_lines.jsonl) is a banner a real device sent; the fingerprint's `hw.vendor` (else `os.vendor`, else
  `service.vendor`) says whose device it is.
* NMAP_SERVICE_PROBES: nmap's `nmap-service-probes`. Each `match` line with a product becomes
  the `nmap` observation `-sV` would import (`$1` placeholders filled with `X1`); the vendor is
  the one the line's `cpe:/h:` or `cpe:/o:` names, else the product's first word. Only lines
  describing a device (a `d/` type or a camera/network vendor) are kept, so the file stays small.

A record is positive (`expect` = the lineage) when the vendor is a flagged one, negative
(`expect` = null) otherwise. Lines that name a flagged vendor while crediting another maker
("3Com … or Huawei …", ZyXEL's ZXDSL) are left out: their truth is not public.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

FLAGGED = {"hikvision": "Hikvision", "dahua": "Dahua", "huawei": "Huawei", "zte": "ZTE", "hytera": "Hytera"}
# Recog's Lorex entry is the Dahua firmware realm "Login to <serial>" (rroller/dahua README: the
# Dahua API "works with some Lorex cameras"); elsewhere an OEM label alone does not show the maker
RECOG_OEM = {"lorex": "Dahua"}
UNCLEAR = re.compile(r"(?i)huawei-3com|\bh3c\b|annke|\bzxdsl\b|zebra|lorex|amcrest")
NAMES = re.compile(r"(?i)hikvision|dahua|huawei|\bzte\b|hytera|ezviz|lorex|amcrest|echolife|smartax|quidway|\bzx[a-z]")

# recog file -> (signal, source, data builder)
RECOG: dict[str, tuple[str, str, Any]] = {
    "http_servers": ("http.server", "http", lambda v: {"path": "/", "status": 200, "headers": {"Server": v}}),
    "http_wwwauth": ("http.realm", "http", lambda v: {"path": "/", "status": 401, "headers": {"WWW-Authenticate": v}}),
    "html_title": ("http.title", "http", lambda v: {"path": "/", "status": 200, "title": v}),
    "http_cookies": ("http.cookie", "http", lambda v: {"path": "/", "status": 200, "headers": {"Set-Cookie": v}}),
    "favicons": ("http.favicon", "http", lambda v: {"path": "/favicon.ico", "status": 200, "favicon_md5": v}),
    "rtsp_servers": ("rtsp.server", "rtsp", lambda v: {"method": "OPTIONS", "status": 200, "headers": {"Server": v}}),
    "x509_subjects": ("tls.subject", "tls", lambda v: {"subject": v}),
    "x509_issuers": ("tls.issuer", "tls", lambda v: {"issuer": v}),
    "snmp_sysdescr": ("snmp.sys_descr", "snmp", lambda v: {"sys_descr": v}),
    "snmp_sysobjid": ("snmp.sys_object_id", "snmp", lambda v: {"sys_object_id": v}),
}
# Banners of line protocols, in recog_lines.jsonl: Recog's SSH examples are the part after
# "SSH-x.x-"; its Telnet examples are base64 when they hold CR/LF, and are decoded here.
RECOG_LINES: dict[str, tuple[str, str, Any]] = {
    "ssh_banners": ("ssh.softwareversion", "ssh", lambda v: {
        "identification": f"SSH-2.0-{v}", "protoversion": "2.0",
        "softwareversion": v.partition(" ")[0], "comments": v.partition(" ")[2]}),
    "telnet_banners": ("telnet.banner", "telnet", lambda v: {"banner": v}),
}
DEVICE_TYPES = {"webcam", "router", "broadband router", "switch", "WAP", "firewall", "printer", "media device",
                "security-misc", "storage-misc", "specialized", "remote management", "power-device", "VoIP adapter",
                "VoIP phone", "PBX", "bridge", "load balancer", "telecom-misc", "terminal server"}
LOOKALIKES = re.compile(r"(?i)uniview|tiandy|xiongmai|hipcam|milesight|reolink|tp-?link|h3c|honor|axis|bosch|hanwha|"
                        r"samsung|vivotek|mobotix|ubiquiti|foscam|avtech|geovision|netwave|d-link|zyxel|netgear|"
                        r"mikrotik|cisco|juniper|brother|canon|epson|xerox|lexmark|ricoh|kyocera|goahead|boa\b|"
                        r"lighttpd|mini_httpd|nginx|apache|thttpd|camera|dvr|nvr")


def record(origin: str, ref: str, signal: str, expect: str | None, source: str, data: dict[str, Any]) -> dict[str, Any]:
    obs = {"source": source, "data": data}
    digest = hashlib.sha1(json.dumps([origin, obs], sort_keys=True).encode()).hexdigest()[:10]
    return {"id": f"{origin}:{digest}", "ref": ref, "signal": signal, "expect": expect, "observations": [obs]}


def label(text: str) -> str | None:
    word = text.strip().split(" ")[0].split(":")[0].lower()
    return FLAGGED.get(word)


def recog_product(params: dict[str, str]) -> str:
    """The product a Recog fingerprint names (hardware, else OS, else service: vendor and
    product, or device type when the product is captured from the banner), a fact for `ref`,
    never the fingerprint's description prose."""
    for kind in ("hw", "os", "service"):
        vendor, product, device = ("" if "{" in v else v.strip() for v in
                                   (params.get(f"{kind}.{key}", "") for key in ("vendor", "product", "device")))
        product = product or device
        if vendor and product.lower().startswith(vendor.lower()):
            vendor = ""
        if vendor or product:
            return " ".join(filter(None, (vendor, product)))
    return ""


def recog_records(checkout: Path, files: dict[str, tuple[str, str, Any]] = RECOG,
                  decode: bool = False) -> list[dict[str, Any]]:
    """Records of the `files`' examples; base64 examples are skipped unless `decode`."""
    out = []
    for name, (signal, source, build) in files.items():
        root = ET.parse(checkout / "xml" / f"{name}.xml").getroot()
        for fp in root.iter("fingerprint"):
            params = {p.get("name"): p.get("value") or "" for p in fp.iter("param")}
            vendor = params.get("hw.vendor") or params.get("os.vendor") or params.get("service.vendor") or ""
            ref = f"rapid7/recog xml/{name}.xml"
            product = recog_product(params)
            ref = f"{ref}: {product[:80]}" if product else ref
            for ex in fp.iter("example"):
                text = ex.text or ""
                if ex.get("_encoding") == "base64" and decode:
                    text = base64.b64decode("".join(text.split())).decode("utf-8", "replace").strip()
                elif ex.get("_encoding"):
                    continue
                if not text.strip():
                    continue
                expect = label(vendor) or RECOG_OEM.get(vendor.lower())
                if expect is None and UNCLEAR.search(vendor + " " + text):
                    continue
                if expect is None and NAMES.search(text) and not NAMES.search(vendor):
                    continue
                out.append(record(f"recog.{name}", ref, signal, expect, source, build(text)))
    return out


FIELD = re.compile(r"\s([pvihod])([/|])(.*?)\2")
CPE = re.compile(r"cpe:([/|])(.*?)\1")
SUB = re.compile(r"\$(?:\d|SUBST\([^)]*\)|P\(\d\)|I\([^)]*\))")


def nmap_records(probes: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(probes.read_text("utf-8", "replace").splitlines(), 1):
        if not line.startswith(("match ", "softmatch ")):
            continue
        service = line.split()[1]
        rest = line[line.index(" m", len(line.split()[0])) + 2:]
        delim = rest[0]
        end = rest.find(delim, 1)
        tail = rest[end + 1:]
        fields = {k: SUB.sub("X1", v) for k, _, v in FIELD.findall(tail)}
        cpes = [SUB.sub("X1", "cpe:/" + c) for _, c in CPE.findall(tail)]
        product = fields.get("p", "")
        if not product:
            continue
        hw = [c.split(":")[2] for c in cpes if c.startswith(("cpe:/h:", "cpe:/o:")) and c.count(":") >= 2]
        vendor_word = hw[0] if hw else product.split(" ")[0]
        text = " ".join([product, fields.get("i", ""), *cpes])
        if UNCLEAR.search(text):
            continue
        expect = FLAGGED.get(vendor_word.lower())
        if expect is None and NAMES.search(text):
            continue
        if expect is None and fields.get("d") not in DEVICE_TYPES and not LOOKALIKES.search(text):
            continue
        data: dict[str, Any] = {"service": service, "product": product}
        for key, name in (("i", "extrainfo"), ("d", "devicetype")):
            if fields.get(key):
                data[name] = fields[key]
        if cpes:
            data["cpe"] = cpes
        out.append(record("nmap", f"nmap nmap-service-probes line {n}: {product[:60]}", "nmap", expect, "nmap", data))
    return out


def main(argv: list[str]) -> None:
    here = Path(__file__).parent
    for name, records in (("recog.jsonl", recog_records(Path(argv[0]))),
                          ("recog_lines.jsonl", recog_records(Path(argv[0]), RECOG_LINES, decode=True)),
                          ("nmap.jsonl", nmap_records(Path(argv[1])))):
        seen: set[str] = set()
        with open(here / name, "w", encoding="utf-8") as fh:
            for rec in records:
                if rec["id"] not in seen:
                    seen.add(rec["id"])
                    fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"{name}: {len(seen)} records, {sum(1 for r in records if r['expect'])} positive")


if __name__ == "__main__":
    main(sys.argv[1:])
