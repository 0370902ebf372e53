"""Which stored asset a device is: pure rules, no database.

An asset is keyed by a stable identity so a DHCP re-address updates its row instead of
creating one: the MAC, else the serial (with the vendor: serials are only unique per maker),
else the site and IP. Matching a device to stored assets follows these rules over rows the
writer (db/record.py) looked up; keeping them here lets them be read and tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from camaudit.db.device import Device


def identity_key(device: Device, site: str | None) -> str:
    """The asset identity of a device: `mac:…`, else `serial:<vendor>:<serial>`, else
    `ip:<site>:<address>` (its IPv4 address, else its first IPv6 one)."""
    if device.mac:
        return f"mac:{device.mac}"
    if device.serial:
        return serial_key(device)
    return f"ip:{site or ''}:{device.address}"


def serial_key(device: Device) -> str:
    """The identity a MAC-less device with this vendor and serial is stored under."""
    return f"serial:{(device.vendor or '').lower()}:{device.serial}"


def serial_match(vendor: str | None, serial: str | None) -> tuple[str, str | None]:
    """What two devices share when the serial rule says they are one (vendor case aside)."""
    return (vendor or "").lower(), serial


def lookup_keys(devices: Iterable[tuple[str, Device]]) -> tuple[set[str], set[str]]:
    """(identity keys, MACs) whose stored rows `match` needs: each device's key, the serial
    key of a device seen with its MAC (a MAC-less asset of it), and every MAC."""
    keys, macs = set(), set()
    for key, device in devices:
        keys.add(key)
        if device.mac:
            macs.add(device.mac)
            if device.serial:
                keys.add(serial_key(device))
    return keys, macs


def match(key: str, device: Device, by_mac: Mapping[str, Any], by_identity: Mapping[str, Any]) -> Any:
    """The stored asset row this device is, among rows by MAC and by identity key, or None.

    By MAC, else by identity key; a device seen with MAC and serial is also the MAC-less asset
    stored under its serial key (the same camera seen behind a router), never an asset with
    another MAC. A MAC-less device not found here may still be an asset stored with a MAC:
    `needs_serial_lookup`.
    """
    row = (by_mac.get(device.mac) if device.mac else None) or by_identity.get(key)
    if row is None and device.mac and device.serial:
        candidate = by_identity.get(serial_key(device))
        if candidate is not None and candidate.mac is None:
            row = candidate
    return row


def needs_serial_lookup(device: Device) -> bool:
    """A device `match` did not find that may be the oldest asset of its vendor and serial."""
    return bool(device.serial and not device.mac)
