"""CLI wiring for the remediation list's inputs: `register load|list|gaps`, `advisories load|list`.

The register is the agency's own CSV (camaudit.register_csv, stored by camaudit.db.register);
the advisories are the known exploited vulnerabilities table (camaudit.advisories).
A file that cannot be used exits 2 with every problem on stderr and changes nothing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import click

from camaudit.cli.common import fatal, load_or_exit, open_store
from camaudit.exitcodes import ExitCode


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(register_group)
    main.add_command(advisories)


_DB = [click.option("--db", "db_url", metavar="URL", help="Inventory database URL."),
       click.option("--config", "config_path", metavar="FILE", help="Config file (for the db URL).")]


def _db_options(command: Any) -> Any:
    for option in reversed(_DB):
        command = option(command)
    return command


@lru_cache(maxsize=1)
def _flagged() -> tuple[Any, frozenset[str]]:
    """The fingerprint set (OUI table, vocabulary) and the vendors any shipped policy flags."""
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.policy import load_policies

    return load_fingerprints(), frozenset().union(*(p.vendors for p in load_policies()))


def flagged_vendor(mac: str | None, vendor: str | None) -> str | None:
    """The flagged vendor a register entry names: its recorded vendor column, else its MAC's
    registered organisation (the OUI table scans use)."""
    fset, flagged = _flagged()
    vocab = fset.vocabulary
    if vendor:
        lineage = vocab.lineage(vocab.canonical_brand(vendor))
        if lineage in flagged:
            return lineage
    hit = fset.oui.lookup(mac) if mac else None
    lineage = vocab.lineage(vocab.brand_of_org(hit.organization)) if hit else None
    return lineage if lineage in flagged else None


@click.group("register")
def register_group() -> None:
    """The agency's asset register (CSV): location and owner of each device, and its gaps."""


@register_group.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_db_options
def register_load(file: Path, db_url: str | None, config_path: str | None) -> None:
    """Replace the stored register with FILE (CSV, UTF-8, a header naming MAC and/or IP).

    All or nothing: any bad row is reported with its line number, exit 2, and the stored
    register stays as it was. Columns: docs/inventory.md ("Asset register").
    """
    from camaudit.register_csv import RegisterError, read_register

    try:
        rows = read_register(file)
    except RegisterError as exc:
        for line in exc.lines():
            click.echo(f"camaudit register: {line}", err=True)
        fatal(f"{exc}; fix the lines above and load the file again", ExitCode.USAGE,
              prog="camaudit register")
    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        loaded, replaced = store.load_register(rows, str(file))
    click.echo(f"{file}: {loaded} register entries loaded (replacing {replaced})", err=True)


@register_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_db_options
def register_list(as_json: bool, db_url: str | None, config_path: str | None) -> None:
    """Show the stored register."""
    from camaudit.report.sanitize import printable

    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        rows = store.register_entries()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        click.echo("  ".join(printable(str(r[k] or "-"))[:60]
                             for k in ("line", "mac", "ip", "asset_tag", "location", "owner")))


@register_group.command("gaps")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_db_options
def register_gaps(as_json: bool, db_url: str | None, config_path: str | None) -> None:
    """Flagged devices missing from the register, and register entries of a flagged vendor
    (by MAC prefix or its vendor column) that the scans no longer see."""
    from camaudit.report.sanitize import printable

    with open_store(load_or_exit({"db": db_url}, config_path)) as store:
        data = store.register_gaps(flagged_vendor)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"{len(data['unregistered'])} flagged device(s) not in the register")
    for a in data["unregistered"]:
        click.echo(printable(f"  A{a['asset_id']}  {a['ip'] or '-'}  {a['mac'] or '-'}  "
                             f"{a['vendor'] or '-'} {a['model'] or ''}  last seen {a['last_seen']}"))
    click.echo(f"{len(data['unseen'])} register entr(ies) of a flagged vendor the scans no longer see")
    for e in data["unseen"]:
        click.echo(printable(f"  line {e['line']}  {e['mac'] or '-'}  {e['ip'] or '-'}  "
                             f"{e['flagged_vendor']}  {e['location'] or '-'}  {e['state']}"))


@click.group("advisories")
def advisories() -> None:
    """Known exploited vulnerabilities of the flagged vendors (CISA KEV), offline."""


@advisories.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def advisories_load(file: Path) -> None:
    """Refresh from CISA's known_exploited_vulnerabilities.json that you carry in (nothing
    is downloaded); only the flagged vendors' entries are kept (docs/priority.md)."""
    from camaudit.advisories import AdvisoryDataError, import_kev_feed, save_user_layer

    fset, flagged = _flagged()
    names = {alias: fset.vocabulary.lineage(brand)
             for alias, brand in fset.vocabulary.alias_to_brand.items() if brand in flagged}
    try:
        kept, total = import_kev_feed(file, names)
    except AdvisoryDataError as exc:
        fatal(str(exc), ExitCode.USAGE, prog="camaudit advisories")
    target = save_user_layer(kept)
    click.echo(f"{file}: {len(kept)} of {total} entries are of flagged vendors; saved to {target}",
               err=True)


@advisories.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per advisory.")
def advisories_list(as_json: bool) -> None:
    """The advisories in effect (shipped table, overlaid by the last `advisories load`)."""
    from camaudit.advisories import AdvisoryDataError, load_advisories, to_dict

    try:
        table = load_advisories()
    except AdvisoryDataError as exc:
        fatal(str(exc), ExitCode.USAGE, prog="camaudit advisories")
    for a in table:
        if as_json:
            click.echo(json.dumps(to_dict(a), ensure_ascii=False))
        else:
            ranges = "; ".join(f"{e.product}: " + ("versions unknown" if e.versions is None else
                                                   ", ".join(f"{lo} to {hi}" for lo, hi in e.versions))
                               for e in a.affected) or "no product pattern"
            click.echo(f"{a.cve:16} {a.vendor:10} added {a.kev_date_added}  {ranges}")
