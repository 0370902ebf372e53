"""CLI wiring for the inventory: assets, findings, history, diff, remediate, rematch, db upgrade.

Each command opens the store named by --db / $CAMAUDIT_DB / the config file (default: the
SQLite file in the user data dir), calls one Store method and prints the answer on stdout as
an aligned table, or as JSON with --json. Messages and errors go to stderr; a bad reference
or refused transition exits 2 (usage), an unreachable database 3 (runtime).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import click

from camaudit.db.lifecycle import ALL_STATUSES, Change
from camaudit.cli.common import TIER_OPTION, fatal, load_or_exit, open_store
from camaudit.exitcodes import ExitCode
from camaudit.match_stream import collector_paused
from camaudit.report.sanitize import escape_controls, printable


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    for command in (assets, findings, history, diff, remediate, rematch, db):
        main.add_command(command)


def _db_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--config", "config_path", metavar="FILE",
                           help="Config file (for the db URL).")(command)
    return click.option("--db", "db_url", metavar="URL",
                        help="Inventory database URL (sqlite:///PATH, postgresql+psycopg://…).")(command)


def _json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)


def _print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # JSON escapes C0 controls itself, but C1 and bidi characters would reach a terminal raw
    click.echo(escape_controls(text) if sys.stdout.isatty() else text)


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """Aligned plain-text columns (pipe-friendly: no colour, no box drawing)."""
    cells = [[h for _, h in columns]] + [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _cell(value: Any) -> str:
    if isinstance(value, list):      # a device's IPv6 addresses
        value = ", ".join(map(str, value))
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    # control characters from device answers must not drive the terminal
    return printable(str(value)[:80])


def _day(text: str) -> str:
    return text[:10] if text else text


@click.command()
@click.option("--site", help="Only assets of this site.")
@click.option("--vendor", help="Only assets of this vendor (lineage, e.g. Hikvision).")
@click.option("--flagged/--all", "flagged", default=False,
              help="Only flagged assets, or all of them (the default).")
@_json_option
@_db_options
def assets(site: str | None, vendor: str | None, flagged: bool | None, as_json: bool,
           db_url: str | None, config_path: str | None) -> None:
    """List the devices in the inventory (one row per physical device)."""
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        rows = store.assets(site=site, vendor=vendor, flagged=True if flagged else None)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        r["ref"], r["last"] = f"A{r['asset_id']}", _day(r["last_seen"])
    _print_table(rows, [("ref", "ASSET"), ("site", "SITE"), ("ip", "IP"), ("ipv6", "IPV6"), ("mac", "MAC"),
                        ("vendor", "VENDOR"), ("brand", "BRAND"), ("model", "MODEL"),
                        ("firmware", "FIRMWARE"), ("flagged", "FLAGGED"), ("tier", "TIER"),
                        ("last", "LAST SEEN")])


@click.command()
@click.option("--status", multiple=True, type=click.Choice(ALL_STATUSES),
              help="Only findings in this status (repeatable).")
@click.option("--site", help="Only findings of assets at this site.")
@click.option("--vendor", help="Only findings of this vendor (lineage, e.g. Hikvision).")
@click.option("--policy", help="Only findings under this policy id.")
@TIER_OPTION
@click.option("--by-policy", is_flag=True, help="One row per finding (device × policy) instead of per device.")
@_json_option
@_db_options
def findings(status: tuple[str, ...], site: str | None, vendor: str | None, policy: str | None,
             tiers: list[str], by_policy: bool, as_json: bool, db_url: str | None,
             config_path: str | None) -> None:
    """List the flagged devices with the policies that flag them, their remediation status
    and confidence tier (--by-policy: one row per finding, device × policy).

    Expired risk acceptances are reopened first, so the list never shows a lapsed one.
    """
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        store.expire_risk_acceptances()
        rows = (store.finding_rows if by_policy else store.device_rows)(
            status=list(status) or None, site=site, vendor=vendor, policy=policy, tier=tiers or None)
    if as_json:
        _print_json(rows)
        return
    if not by_policy:
        _print_devices(rows)
        return
    for r in rows:
        r["ref"], r["asset"] = f"F{r['finding_id']}", f"A{r['asset_id']}"
        r["seen"] = _day(r["last_seen"]) + (" (not seen since)" if r["not_seen_since"] else "")
    _print_table(rows, [("ref", "FINDING"), ("asset", "ASSET"), ("site", "SITE"), ("ip", "IP"), ("ipv6", "IPV6"),
                        ("vendor", "VENDOR"), ("brand", "BRAND"), ("model", "MODEL"),
                        ("tier", "TIER"), ("policy_id", "POLICY"), ("status", "STATUS"), ("owner", "OWNER"),
                        ("due", "DUE"), ("days_open", "DAYS"), ("seen", "LAST SEEN")])


def _print_devices(rows: list[dict[str, Any]]) -> None:
    """The remediation list: one line per device (`D7`, the ref `remediate` takes), the one to
    remove first first, with the reason of its priority and its register location."""
    for r in rows:
        r["ref"], r["policy_list"] = f"D{r['asset_id']}", ", ".join(r["policies"])
        r["shown_status"] = r["status"] + (" (mixed)" if r["status_detail"] else "")
        r["seen"] = _day(r["last_seen"]) + (" (not seen since)" if r["not_seen_since"] else "")
    _print_table(rows, [("ref", "DEVICE"), ("site", "SITE"), ("ip", "IP"), ("ipv6", "IPV6"), ("mac", "MAC"),
                        ("vendor", "VENDOR"), ("brand", "BRAND"), ("model", "MODEL"),
                        ("tier", "TIER"), ("policy_list", "POLICIES"), ("priority_reason", "PRIORITY"),
                        ("location", "LOCATION"), ("shown_status", "STATUS"),
                        ("owner", "OWNER"), ("due", "DUE"), ("days_open", "DAYS"), ("seen", "LAST SEEN")])


@click.command()
@click.argument("asset")
@click.option("--site", help="Site of the asset, when an IP names devices at several sites.")
@_json_option
@_db_options
def history(asset: str, site: str | None, as_json: bool, db_url: str | None,
            config_path: str | None) -> None:
    """Show one asset's sightings and its findings' event trail.

    ASSET is a device id (D7 or A7), a MAC or an IP address.
    """
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        data = store.history(asset, site=site)
    if as_json:
        _print_json(data)
        return
    a = data["asset"]
    # device-supplied text goes through _cell like every table value (no terminal escapes)
    click.echo(f"A{a['asset_id']}  {_cell(a['vendor'] or 'unknown vendor')} {_cell(a['model'])}  "
               f"mac {_cell(a['mac'])}  serial {_cell(a['serial'])}  site {_cell(a['site'])}")
    click.echo("\nSightings")
    _print_table(data["sightings"], [("scan_id", "SCAN"), ("seen_at", "SEEN"), ("ip", "IP"), ("ipv6", "IPV6"),
                                     ("vendor", "VENDOR"), ("firmware", "FIRMWARE"),
                                     ("flagged", "FLAGGED")])
    for f in data["findings"]:
        click.echo(f"\nF{f['finding_id']}  {f['policy_id']}  {f['status']}")
        _print_table(f["events"], [("at", "WHEN"), ("actor", "WHO"), ("from", "FROM"),
                                   ("to", "TO"), ("scan_id", "SCAN"), ("note", "NOTE")])


@click.command()
@click.argument("scan_a", type=int, required=False)
@click.argument("scan_b", type=int, required=False)
@click.option("--site", help="Without scan ids: the last two complete scans of this site.")
@click.option("--list", "list_scans", is_flag=True, help="List the stored scans instead.")
@_json_option
@_db_options
def diff(scan_a: int | None, scan_b: int | None, site: str | None, list_scans: bool,
         as_json: bool, db_url: str | None, config_path: str | None) -> None:
    """Devices new, gone and changed (IP, firmware, vendor) between two scans.

    Without SCAN_A SCAN_B: the last two complete scans.
    """
    if (scan_a is None) != (scan_b is None):
        raise click.UsageError("give two scan ids (SCAN_A SCAN_B) or none; see --list")
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        if list_scans:
            rows = store.scans(site=site)
            if as_json:
                _print_json(rows)
            else:
                _print_table(rows, [("scan_id", "SCAN"), ("site", "SITE"), ("started_at", "STARTED"),
                                    ("status", "STATUS"), ("devices", "DEVICES"),
                                    ("flagged", "FLAGGED"), ("new_assets", "NEW")])
            return
        data = store.diff(scan_a, scan_b, site=site)
    if as_json:
        _print_json(data)
        return
    click.echo(f"scan {data['scan_a']} → scan {data['scan_b']}: {len(data['new'])} new, "
               f"{len(data['gone'])} gone, {len(data['changed'])} changed")
    for kind in ("new", "gone"):
        for r in data[kind]:
            click.echo(f"{'+' if kind == 'new' else '-'} A{r['asset_id']}  {_cell(r['ip'] or r['ipv6'])}  "
                       f"{_cell(r['mac'])}  {_cell(r['vendor'])} {_cell(r['model'])}")
    for r in data["changed"]:
        changes = ", ".join(f"{k} {_cell(v['from'])} → {_cell(v['to'])}" for k, v in r["changes"].items())
        click.echo(f"~ A{r['asset_id']}  {_cell(r['mac'] or r['ip'] or r['ipv6'])}  {changes}")


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@click.command()
@click.argument("ref", metavar="DEVICE|FINDING")
@click.option("--status", required=True, type=click.Choice(ALL_STATUSES),
              help="New status (open reopens a finding by hand).")
@click.option("--owner", help="Who is responsible for the fix.")
@click.option("--due", callback=_date, metavar="DATE", help="Due date (YYYY-MM-DD).")
@click.option("--note", help="Why (required for false_positive).")
@click.option("--expires", callback=_date, metavar="DATE",
              help="End of a risk acceptance (required for risk_accepted); it reopens then.")
@click.option("--site", help="Site of the asset, when an IP names devices at several sites.")
@click.option("--actor", default=getpass.getuser, show_default="login name",
              help="Who makes this change (recorded in the event trail).")
@_json_option
@_db_options
def remediate(ref: str, status: str, owner: str | None, due: date | None, note: str | None,
              expires: date | None, site: str | None, actor: str, as_json: bool,
              db_url: str | None, config_path: str | None) -> None:
    """Change the remediation status of a device: all its findings move together (or of one
    finding, F12).

    A device is named by its id (D7, as `camaudit findings` lists it; A7 too), MAC or IP.
    Every change is appended to each finding's own event trail with who, when, from, to and
    the note, so the per-policy history stays; all findings move or none does.
    """
    change = Change(to=status, actor=actor, owner=owner, due=due, note=note, expires=expires)
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        events = store.remediate(store.resolve(ref, site=site), change)
    if as_json:
        _print_json(events)
        return
    for e in events:
        click.echo(f"F{e['finding_id']}: {e['from']} → {e['to']}" + (f"  ({_cell(e['note'])})" if e["note"] else ""))


@click.command()
@click.option("--policy", "policy_ids", multiple=True, metavar="ID",
              help="Policies that flag devices (repeatable; default: all shipped policies).")
@_json_option
@_db_options
def rematch(policy_ids: tuple[str, ...], as_json: bool, db_url: str | None,
            config_path: str | None) -> None:
    """Re-identify stored devices with the installed fingerprints, without rescanning.

    Uses the observations of each asset's last sighting; newly flagged devices open findings,
    findings no fingerprint supports any more become false_positive, each with an event.
    Exits 1 when open findings remain, like a scan.
    """
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.identify import identify
    from camaudit.policy import PolicyError, load_policies

    try:
        policies = load_policies(policy_ids or None)
    except PolicyError as exc:
        fatal(str(exc), ExitCode.USAGE)
    fingerprints = load_fingerprints()
    # rematch's per-chunk rows never form cycles; the collector rescanning the growing heap
    # cost ~10 % of a million-observation rematch, as it did in `camaudit match`
    with open_store(load_or_exit({"db": db_url}, config_path)) as store, collector_paused():
        result = store.rematch(lambda observations: identify(observations, fingerprints, policies),
                               fingerprint_version=getattr(fingerprints, "version", None),
                               policies=list(policies))
        open_count = store.open_flagged_count()
    summary = {k: getattr(result, k) for k in ("assets", "changed_assets", "findings_opened",
                                                "findings_reopened", "findings_cleared")}
    if as_json:
        _print_json(summary)
    else:
        click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))
    sys.exit(ExitCode.FLAGGED if open_count else ExitCode.CLEAN)


@click.group()
def db() -> None:
    """Inventory database maintenance."""


@db.command()
@_db_options
def upgrade(db_url: str | None, config_path: str | None) -> None:
    """Create or migrate the inventory schema to this camaudit's version (one transaction)."""
    with open_store(load_or_exit({"db": db_url}, config_path), migrate_schema=False) as store:
        before, after = store.upgrade()
        url = store.safe_url
    click.echo(f"{url}: schema at revision {after}" + ("" if before == after else f" (was {before})"),
               err=True)
