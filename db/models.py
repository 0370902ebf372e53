"""SQLAlchemy 2 typed models of the inventory.

Tables and why each exists:

* ``scans``        one row per scan run: what was asked (targets, site, policies), what was
                   covered (for "not seen since"), how it ended, tool/fingerprint versions, counts,
                   and for an ingested observation file its name, SHA-256, tool and time span.
* ``assets``       one row per physical device, keyed by a stable identity (MAC, else serial,
                   else site+IP) so a DHCP re-address updates the row instead of creating one.
                   Its IPv4 address is `ip`, its IPv6 addresses the list `ipv6`: a dual-stack
                   device is one asset with both (a link-local address with its zone does not
                   fit a 45-character column, and a device has several IPv6 addresses).
* ``sightings``    asset × scan: what the device looked like in that scan (IP, firmware, vendor…).
                   ``diff`` and ``history`` read it; it is the only per-scan copy of identity.
* ``observations`` the raw probe answers of each scan, kept so ``rematch`` can re-identify
                   stored devices after a fingerprint update without rescanning (an asset's
                   observations are found through its sighting: same scan, same MAC or IP).
* ``policies``     id, title, citation of each policy a finding refers to (reports need them
                   even where the policy files are not installed, e.g. a central database).
* ``findings``     asset × policy with the remediation state (scanner/… never deletes one).
* ``finding_events`` append-only trail: who, when, from, to, note, and the scan that caused it.
* ``asset_register`` the agency's own asset register (`camaudit register load`): where a
                   device is and who answers for it, keyed by MAC and/or IP; replaced whole.

Timestamps are stored as naive UTC (SQLite has no time zones) and returned timezone-aware.

Text lengths: every text column has one maximum, its `String(n)` length or, for `Text`
columns, `info["max_chars"]` (a bound on what one finding or event may carry, without a
schema change). `fit` applies it before any write, so SQLite (which would store anything) and
PostgreSQL (which refuses an over-long value, failing the whole transaction) keep the same text.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from camaudit.db.errors import TextTooLong

MAX_NOTE = 4000            # a note or event text: a paragraph, not a document
TRUNCATED = "…"            # ends device text that was cut to fit its column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: one behaviour on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, date: Date, dict[str, Any]: JSON,
                           list[Any]: JSON}


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str | None] = mapped_column(String(200), index=True)
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    covered: Mapped[list[Any]] = mapped_column(JSON, default=list)
    policies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), index=True)  # running|complete|interrupted|failed
    tool_version: Mapped[str | None] = mapped_column(String(50))
    fingerprint_version: Mapped[str | None] = mapped_column(String(100))
    observation_count: Mapped[int] = mapped_column(Integer, default=0)
    device_count: Mapped[int] = mapped_column(Integer, default=0)
    flagged_count: Mapped[int] = mapped_column(Integer, default=0)
    new_assets: Mapped[int] = mapped_column(Integer, default=0)
    findings_opened: Mapped[int] = mapped_column(Integer, default=0)
    findings_reopened: Mapped[int] = mapped_column(Integer, default=0)
    # provenance of a scan ingested from an observation file (`camaudit ingest`); NULL for a live scan
    source_file: Mapped[str | None] = mapped_column(String(400))
    source_sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # a file is ingested once
    source_tool: Mapped[str | None] = mapped_column(String(200))  # what wrote the file, when it says
    observed_from: Mapped[datetime | None]  # earliest and latest `at` of its observations
    observed_to: Mapped[datetime | None]


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "mac:…", "serial:<vendor>:<serial>" or "ip:<site>:<ip>"; unique so concurrent site
    # scanners inserting the same device meet at one row (INSERT … ON CONFLICT DO NOTHING).
    identity: Mapped[str] = mapped_column(String(400), unique=True)
    site: Mapped[str | None] = mapped_column(String(200), index=True)
    ip: Mapped[str | None] = mapped_column(String(45), index=True)      # IPv4
    # IPv6 addresses of the latest scan that saw any (camaudit.db.device.MAX_IPV6); NULL: none seen
    ipv6: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    mac: Mapped[str | None] = mapped_column(String(17), index=True)
    serial: Mapped[str | None] = mapped_column(String(200), index=True)
    # not indexed: every query compares lower(vendor), which an index of vendor cannot serve
    vendor: Mapped[str | None] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    firmware: Mapped[str | None] = mapped_column(String(200))
    device_type: Mapped[str | None] = mapped_column(String(100))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    # confirmed | probable | possible (camaudit.tiers); NULL: no vendor concluded
    tier: Mapped[str | None] = mapped_column(String(20), index=True)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    first_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    last_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    # complete scans of its site that covered its address and did not see it, since last seen
    missed_scans: Mapped[int] = mapped_column(Integer, default=0)


class Sighting(Base):
    __tablename__ = "sightings"
    # the unique index also serves lookups by scan_id (its first column): no index of its own
    __table_args__ = (UniqueConstraint("scan_id", "asset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    seen_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(45))                  # IPv4
    ipv6: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    mac: Mapped[str | None] = mapped_column(String(17))
    vendor: Mapped[str | None] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    firmware: Mapped[str | None] = mapped_column(String(200))
    serial: Mapped[str | None] = mapped_column(String(200))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    policies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    tier: Mapped[str | None] = mapped_column(String(20))


class StoredObservation(Base):
    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_scan_mac", "scan_id", "mac"),
                      Index("ix_observations_scan_ip", "scan_id", "ip"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    ip: Mapped[str | None] = mapped_column(String(45))
    mac: Mapped[str | None] = mapped_column(String(17))
    source: Mapped[str] = mapped_column(String(20))
    port: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    # the whole Observation.to_dict(), so a later format field survives a round trip
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)


class Policy(Base):
    __tablename__ = "policies"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(Text, info={"max_chars": MAX_NOTE})
    citation: Mapped[str | None] = mapped_column(Text, info={"max_chars": MAX_NOTE})


class Finding(Base):
    __tablename__ = "findings"
    # the unique index also serves lookups by asset_id (its first column): no index of its own
    __table_args__ = (UniqueConstraint("asset_id", "policy_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    owner: Mapped[str | None] = mapped_column(String(200))
    due: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(Text, info={"max_chars": MAX_NOTE})
    expires: Mapped[date | None]  # risk acceptance ends at the start of this day (UTC)
    # fingerprint ids a false-positive verdict covers; new evidence outside them reopens
    suppressed_fingerprints: Mapped[list[Any]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    not_seen_since: Mapped[datetime | None]


class FindingEvent(Base):
    __tablename__ = "finding_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, info={"max_chars": MAX_NOTE})
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))


class RegisterEntry(Base):
    __tablename__ = "asset_register"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mac: Mapped[str | None] = mapped_column(String(17), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45), unique=True)
    asset_tag: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))
    vendor: Mapped[str | None] = mapped_column(String(200))   # the register's own vendor column
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # columns not mapped above
    line: Mapped[int] = mapped_column(Integer)                # line of the file it came from
    source_file: Mapped[str] = mapped_column(String(400))
    loaded_at: Mapped[datetime]


def max_chars(column: Any) -> int | None:
    """The most characters `column` (a Column of these models) keeps; None: unbounded."""
    return getattr(column.type, "length", None) or column.info.get("max_chars")


def fit(column: Any, value: str | None, *, typed: bool = False, field: str | None = None) -> str | None:
    """`value` within `column`'s maximum (`max_chars`).

    Text the user typed (`typed`: an owner, a note, a site name) is refused with TextTooLong
    naming `field` (default: the column name), because silently storing less than was typed
    loses what the user meant; text devices or the program produced is cut, ending in
    TRUNCATED so a reader sees it was.
    """
    limit = max_chars(column)
    if value is None or limit is None or len(value) <= limit:
        return value
    if typed:
        raise TextTooLong(field or column.name, limit, len(value))
    return value[:limit - len(TRUNCATED)] + TRUNCATED
