"""What the removal priority (camaudit.priority) needs of stored devices: each asset's facts
and the ports its last sighting's observations found open.

A port counts as open when a probe reached the service: it answered (ok), or answered in a
way the probe could not use (protocol-error, too-large, reset after connect, tls-error). A
refused, unreachable or timed-out probe says nothing about the service being reachable.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, select

from camaudit.db.engine import Database
from camaudit.db.models import Asset, Sighting
from camaudit.db.rematch import observations_of
from camaudit.observation import ProbeStatus
from camaudit.priority import DeviceFacts

T_ASSET, T_SIGHT = Asset.__table__, Sighting.__table__
OPEN = frozenset({ProbeStatus.OK, ProbeStatus.PROTOCOL_ERROR, ProbeStatus.TOO_LARGE,
                  ProbeStatus.RESET, ProbeStatus.TLS_ERROR})


def device_facts(db: Database, asset_ids: Sequence[int] | None = None) -> dict[int, DeviceFacts]:
    """asset id → DeviceFacts (vendor, brand, model, firmware, type, tier, open ports), for
    `asset_ids` or every asset; ports come from the observations of its last sighting."""
    with db.read() as conn:
        return facts_of(conn, asset_ids)


def facts_of(conn: Connection, asset_ids: Sequence[int] | None) -> dict[int, DeviceFacts]:
    """`device_facts` on an open connection (the device rows' snapshot)."""
    stmt = select(T_ASSET.c.id, T_ASSET.c.vendor, T_ASSET.c.brand, T_ASSET.c.model,
                  T_ASSET.c.firmware, T_ASSET.c.device_type, T_ASSET.c.tier,
                  T_SIGHT.c.asset_id, T_SIGHT.c.scan_id, T_SIGHT.c.mac, T_SIGHT.c.ip,
                  T_SIGHT.c.ipv6).outerjoin(
        T_SIGHT, and_(T_ASSET.c.id == T_SIGHT.c.asset_id, T_ASSET.c.last_scan_id == T_SIGHT.c.scan_id))
    if asset_ids is not None:
        stmt = stmt.where(T_ASSET.c.id.in_(list(asset_ids)))
    rows = conn.execute(stmt.order_by(T_ASSET.c.id)).all()
    observations = observations_of(conn, [r for r in rows if r.scan_id is not None])
    return {r.id: DeviceFacts(vendor=r.vendor, brand=r.brand, model=r.model, firmware=r.firmware,
                              device_type=r.device_type, tier=r.tier,
                              open_ports=frozenset(o.port for o in observations.get(r.id, ())
                                                   if o.port is not None and o.status in OPEN))
            for r in rows}
