"""The agency's asset register in the inventory: load (replace whole), look up, compare.

`replace` swaps the stored register for new rows in one transaction: a reader sees the old
register or the new one, never a mix. `entry_for` is what device rows call for location and
owner (a MAC match wins over an IP match, since DHCP moves IPs; the IP is the device's IPv4
address or any of its IPv6 addresses). `gaps` lists flagged devices
the register lacks and flagged-vendor register entries the scans no longer see.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from camaudit.db.engine import Database
from camaudit.db.findings import iso
from camaudit.db.models import Asset, RegisterEntry, Scan, fit
from camaudit.db.record import covered
from camaudit.observation import normalize_mac

T_REG, T_ASSET, T_SCAN = RegisterEntry.__table__, Asset.__table__, Scan.__table__
FIELDS = ("mac", "ip", "asset_tag", "location", "owner", "vendor", "extra", "line")
# (mac, recorded vendor) → the flagged vendor it names, or None
FlaggedVendor = Callable[[str | None, str | None], str | None]


def replace(db: Database, rows: Iterable[Any], source_file: str) -> tuple[int, int]:
    """Store `rows` (RegisterRow-like) as the register; returns (loaded, replaced)."""
    now = db.clock()
    values = [{**{f: getattr(r, f) for f in FIELDS}, "loaded_at": now,
               "source_file": fit(T_REG.c.source_file, source_file)} for r in rows]
    with db.write() as conn:
        replaced = conn.execute(delete(T_REG)).rowcount
        if values:
            conn.execute(T_REG.insert(), values)
    return len(values), replaced


def _as_dict(row: Any) -> dict[str, Any]:
    return {"register_id": row.id, **{f: getattr(row, f) for f in FIELDS},
            "source_file": row.source_file, "loaded_at": iso(row.loaded_at)}


def entry_for(db: Database, mac: str | None, ip: str | None) -> dict[str, Any] | None:
    """The register entry of a device: by MAC first, then by IP; None when it has none."""
    with db.read() as conn:
        return entries_for(conn, [(mac, [ip] if ip else [])])[0]


def entries_for(conn: Connection, devices: Sequence[tuple[str | None, Sequence[str]]]
                ) -> list[dict[str, Any] | None]:
    """The register entry of each (mac, addresses), in order (MAC first, then each address:
    IPv4, then IPv6), in one query."""
    keys = [(_mac(mac), [_ip(ip) for ip in addresses if ip]) for mac, addresses in devices]
    macs = sorted({m for m, _ in keys if m})
    ips = sorted({i for _, addresses in keys for i in addresses})
    by_mac: dict[str, Any] = {}
    by_ip: dict[str, Any] = {}
    if macs or ips:
        for row in conn.execute(select(T_REG).where(T_REG.c.mac.in_(macs) | T_REG.c.ip.in_(ips))
                                .order_by(T_REG.c.id)):
            if row.mac:
                by_mac.setdefault(row.mac, row)
            if row.ip:
                by_ip.setdefault(row.ip, row)
    out: list[dict[str, Any] | None] = []
    for mac, addresses in keys:
        row = by_mac.get(mac) if mac else None
        if row is None:
            row = next((by_ip[ip] for ip in addresses if ip in by_ip), None)
        out.append(_as_dict(row) if row is not None else None)
    return out


def _ip(ip: str) -> str:
    """An address as the register stores it (camaudit.register_csv: `ipaddress` text)."""
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def _mac(mac: str | None) -> str | None:
    try:
        return normalize_mac(mac) if mac else None
    except ValueError:
        return None


def _addresses(asset: Any) -> set[str]:
    """An asset row's addresses, IPv4 and IPv6."""
    return {ip for ip in (asset.ip, *(asset.ipv6 or ())) if ip}


def entries(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_as_dict(r) for r in conn.execute(select(T_REG).order_by(T_REG.c.line))]


def _networks(scan: Any) -> list[Any]:
    """The networks a scan covered (a range or name the engine expanded covers nothing here,
    as for the scan's own miss count)."""
    out = []
    for item in scan.covered or []:
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue
    return out


def gaps(db: Database, flagged_vendor: FlaggedVendor) -> dict[str, list[dict[str, Any]]]:
    """`unregistered`: flagged assets with no register entry (by MAC or IP);
    `unseen`: register entries of a flagged vendor (`flagged_vendor`) that no asset matches
    ("never seen"), or whose asset was last seen before the latest complete scan covering
    its address ("not seen since")."""
    with db.read() as conn:
        register = conn.execute(select(T_REG).order_by(T_REG.c.line)).all()
        by_mac = {r.mac: r for r in register if r.mac}
        by_ip = {r.ip: r for r in register if r.ip}
        flagged = conn.execute(select(T_ASSET).where(T_ASSET.c.flagged.is_(True))
                               .order_by(T_ASSET.c.id)).all()
        unregistered = [{"asset_id": a.id, "ip": a.ip, "ipv6": list(a.ipv6 or ()), "mac": a.mac,
                         "vendor": a.vendor, "model": a.model, "site": a.site, "last_seen": iso(a.last_seen)}
                        for a in flagged if a.mac not in by_mac and not by_ip.keys() & _addresses(a)]
        scans = [(s, _networks(s)) for s in conn.execute(
            select(T_SCAN).where(T_SCAN.c.status == "complete").order_by(T_SCAN.c.started_at.desc()))]
        # one read of every asset's address and last sighting, not one query per entry
        assets = conn.execute(select(T_ASSET.c.id, T_ASSET.c.mac, T_ASSET.c.ip, T_ASSET.c.ipv6,
                                     T_ASSET.c.last_seen).order_by(T_ASSET.c.last_seen)).all()
    asset_by_mac = {a.mac: a for a in assets if a.mac}     # the latest seen wins
    asset_by_ip = {ip: a for a in assets for ip in _addresses(a)}
    unseen = []
    for entry in register:
        vendor = flagged_vendor(entry.mac, entry.vendor)
        if vendor is None:
            continue
        # an entry with a MAC is that device; an IP alone may have been handed to another
        asset = asset_by_mac.get(entry.mac) if entry.mac else asset_by_ip.get(entry.ip)
        item = {**_as_dict(entry), "flagged_vendor": vendor, "asset_id": asset.id if asset else None,
                "last_seen": iso(asset.last_seen) if asset else None}
        if asset is None:
            unseen.append({**item, "state": "never seen"})
            continue
        latest = next((s for s, nets in scans
                       if any(covered(ip, nets) for ip in _addresses(asset) or {entry.ip} if ip)), None)
        if latest is not None and asset.last_seen < latest.started_at:
            unseen.append({**item, "state": "not seen since", "missed_scan_id": latest.id})
    return {"unregistered": unregistered, "unseen": unseen}
