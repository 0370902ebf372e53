"""CLI wiring for matching: `camaudit match`, `camaudit fingerprints …`, `camaudit oui …`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from camaudit.cli.common import stdout_text
from camaudit.exitcodes import ExitCode
from camaudit.match_stream import collector_paused, skipped_lines, write_identifications

if TYPE_CHECKING:
    from camaudit.observation import ReadError


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(match)
    main.add_command(fingerprints)
    main.add_command(oui)


@click.command("match")
@click.argument("file", default="-", type=click.File("r", encoding="utf-8", errors="replace"))
@click.option("--policy", "policy_ids", multiple=True, metavar="ID",
              help="Only these policies flag devices (repeatable; default: all shipped policies).")
def match(file: click.utils.LazyFile, policy_ids: tuple[str, ...]) -> None:
    """Identify devices from observation JSON Lines (FILE, or - for stdin).

    Prints one identification per device as JSON Lines on stdout (docs/fingerprints.md).
    Lines that are not observations are skipped and counted on stderr. Exit 1 when a device
    is flagged as confirmed or probable, 0 when none is (a `possible` one is for review),
    2 on unusable input or an unknown policy.
    """
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.fingerprints.errors import FingerprintError
    from camaudit.identify import Matcher
    from camaudit.observation import read_jsonl
    from camaudit.policy import PolicyError, load_policies

    try:
        matcher = Matcher(load_fingerprints(), load_policies(policy_ids))
    except (PolicyError, FingerprintError) as exc:
        raise click.UsageError(str(exc)) from None
    errors: list[ReadError] = []
    with collector_paused():
        for obs in read_jsonl(file, errors):
            matcher.add(obs)
        if errors:
            click.echo(f"camaudit match: {skipped_lines(errors)}", err=True)
            if matcher.observations == 0:
                click.echo("camaudit match: no usable observation; expected JSON Lines as in docs/observations.md",
                           err=True)
                sys.exit(ExitCode.USAGE)
        with stdout_text() as out:
            _, flagged = write_identifications(matcher, out)
    sys.exit(ExitCode.FLAGGED if flagged else ExitCode.CLEAN)


@click.group("fingerprints")
def fingerprints() -> None:
    """Inspect and check the fingerprint data (fingerprints/vendors/*.toml)."""


@fingerprints.command("list")
@click.option("--vendor", help="Only fingerprints showing this vendor or brand.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per fingerprint.")
def fingerprints_list(vendor: str | None, as_json: bool) -> None:
    """List fingerprints: id, field, weight, vendor/brand."""
    from camaudit.fingerprints.loader import load_fingerprints

    fset = load_fingerprints()
    for fp in fset.fingerprints:
        names = {fp.vendor, fp.brand, fset.vocabulary.lineage(fp.brand)}
        if vendor and vendor not in names:
            continue
        if as_json:
            click.echo(json.dumps({"id": fp.id, "field": fp.field, "match": fp.match, "weight": fp.weight,
                                   "tier": fp.tier, "generic": fp.generic, "vendor": fp.vendor, "brand": fp.brand,
                                   "captures": list(fp.captures), "file": fp.file, "line": fp.line}))
        else:
            who = fp.vendor or (f"brand {fp.brand}" if fp.brand else "(captures)")
            click.echo(f"{fp.id:40} {fp.field:36} {fp.weight:4.2f} {fp.tier:9}{' generic' if fp.generic else ''}  {who}")


@fingerprints.command("verify")
def fingerprints_verify() -> None:
    """Check every fingerprint file, the vocabulary, policies and OUI data; exit 2 on a problem."""
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.fingerprints.errors import FingerprintError
    from camaudit.fingerprints.verify import verify
    from camaudit.policy import PolicyError, load_policies

    try:
        fset = load_fingerprints()
        policies = load_policies()
    except (FingerprintError, PolicyError) as exc:
        click.echo(f"camaudit fingerprints verify: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    problems = verify(fset)
    for problem in problems:
        click.echo(str(problem), err=True)
    examples = sum(len(fp.examples) for fp in fset.fingerprints)
    layers = ", ".join(f"{name} {n}" for name, n in fset.oui.size().items())
    if "ieee" not in fset.oui.size():
        click.echo("warning: mac-vendor-lookup's bundled IEEE list was not found; only flagged "
                   "vendors' OUIs will be named (reinstall mac-vendor-lookup or `camaudit oui refresh`)",
                   err=True)
    click.echo(f"{len(fset.fingerprints)} fingerprints, {examples} examples, {len(policies)} policies, "
               f"OUI entries: {layers}; data version {fset.version}: "
               + ("ok" if not problems else f"{len(problems)} problem(s)"))
    sys.exit(ExitCode.USAGE if problems else ExitCode.CLEAN)


@fingerprints.command("explain")
@click.argument("fingerprint_id")
def fingerprints_explain(fingerprint_id: str) -> None:
    """Show one fingerprint: where it is, what it reads, what it concludes, its examples."""
    from camaudit.fingerprints.loader import load_fingerprints

    fset = load_fingerprints()
    fp = fset.get(fingerprint_id)
    if fp is None:
        close = [f.id for f in fset.fingerprints if fingerprint_id.split(".")[0] in f.id][:10]
        raise click.UsageError(f"no fingerprint {fingerprint_id!r}"
                               + (f"; similar: {', '.join(close)}" if close else "; see `camaudit fingerprints list`"))
    lines = [f"{fp.id}  ({fp.file}:{fp.line})", f"  {fp.description}" if fp.description else "",
             f"  reads     {fp.field}" + (" (and https)" if fp.source == "http" else ""),
             "  when      " + ", ".join(".".join(p) + f" in {sorted(v)}" for p, v in fp.when) if fp.when else "",
             f"  {fp.match:9} {fp.pattern}" + (" (case-insensitive)" if fp.icase else ""),
             f"  tier      {fp.tier}",
             f"  weight    {fp.weight}" + (" generic: counts only beside another signal of the vendor" if fp.generic else ""),
             f"  vendor    {fp.vendor or '-'}   brand {fp.brand or '-'}"
             + (f"   device type {fp.device_type}" if fp.device_type else ""),
             f"  captures  {', '.join(fp.captures)}" if fp.captures else "",
             f"  source    {fp.reference}" if fp.reference else ""]
    for ex in fp.examples:
        caps = fp.test(ex.value.replace("\u00a0", " "))
        hit = fset.hit(fp, ex.value, caps) if caps is not None else None
        verdict = (f"-> vendor {hit.vendor or '-'}, brand {hit.brand or '-'}" + (f", {caps}" if caps else "")
                   if hit else "-> DOES NOT MATCH")
        lines.append(f"  example   {ex.value!r} {verdict}")
    click.echo("\n".join(line for line in lines if line))


@fingerprints.command("policies")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per policy.")
def fingerprints_policies(as_json: bool) -> None:
    """List the shipped jurisdiction policies and the vendors each names."""
    from camaudit.policy import describe, load_policies

    for policy in load_policies():
        if as_json:
            click.echo(json.dumps(describe(policy), ensure_ascii=False))
        else:
            click.echo(f"{policy.id:26} {policy.effective}  {', '.join(sorted(policy.vendors)):40} {policy.title}")


@click.group("oui")
def oui() -> None:
    """MAC prefix data: look up, refresh from a file you supply (offline), rebuild the flagged table."""


@oui.command("lookup")
@click.argument("mac")
def oui_lookup(mac: str) -> None:
    """Show the registry entry, brand and vendor camaudit derives from a MAC."""
    from camaudit.fingerprints.loader import load_fingerprints
    from camaudit.oui import is_locally_administered, mac_to_int

    try:
        mac_to_int(mac)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    fset = load_fingerprints()
    if is_locally_administered(mac):
        click.echo(f"{mac}: locally administered (randomized) — names no vendor")
        return
    hit = fset.oui.lookup(mac)
    if hit is None:
        click.echo(f"{mac}: no registry entry (or a multicast address)")
        return
    brand = fset.vocabulary.brand_of_org(hit.organization)
    click.echo(f"{mac}: {hit.prefix}/{hit.bits} {hit.organization} [{hit.layer}]"
               f" -> brand {brand or '-'}, vendor {fset.vocabulary.lineage(brand) or '-'}")


@oui.command("refresh")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def oui_refresh(file: Path) -> None:
    """Import an IEEE registry file you supply (oui.csv, mam.csv, oui36.csv, oui.txt or a
    mac-vendors.txt) into camaudit's data dir; it then takes precedence over bundled data.

    Nothing is downloaded: on an air-gapped network, carry the IEEE files in.
    """
    from camaudit.oui import OuiDataError, refresh

    try:
        result = refresh(file)
    except OuiDataError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{file}: {result.added} new prefixes, {result.total} in {result.path}"
               + (f"; {result.skipped} line(s) not understood" if result.skipped else ""))


@oui.command("build-flagged")
@click.option("--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Registry file to read (default: mac-vendor-lookup's bundled list).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write (default: fingerprints/oui/flagged.csv of this install).")
def oui_build_flagged(source: Path | None, output: Path | None) -> None:
    """Maintainers: rebuild the flagged-vendor prefix table from a registry file, keeping the
    organisations marked `flagged_oui` in fingerprints/vocabulary.toml (exact names)."""
    from camaudit.fingerprints.data import data_root
    from camaudit.fingerprints.vocabulary import load_vocabulary
    from camaudit.oui import FLAGGED_CSV, OuiDataError, bundled_ieee_path, flagged_layer, read_registry_file, write_layer_csv

    path = source or bundled_ieee_path()
    if path is None:
        raise click.UsageError("mac-vendor-lookup's bundled list was not found; pass --from FILE")
    try:
        registry, _ = read_registry_file(path)
    except OuiDataError as exc:
        raise click.UsageError(str(exc)) from None
    layer = flagged_layer(registry, load_vocabulary().flagged_orgs)
    target = output or Path(str(data_root().joinpath(FLAGGED_CSV)))
    target.write_text(write_layer_csv(layer), encoding="utf-8")
    click.echo(f"{sum(len(t) for t in layer.values())} flagged prefixes from {path} -> {target}")
