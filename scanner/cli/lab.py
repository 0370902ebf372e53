"""CLI wiring for the simulated lab: `camaudit lab up|down|status|exec|truth|personas`.

The logic lives in camaudit.lab; these commands parse options, call it, print, and map the
outcome to an exit code. The lab needs root (network namespaces).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from camaudit.cli.common import fatal
from camaudit.exitcodes import ExitCode

PROG = "camaudit lab"  # how the lab's messages begin
NAME_OPTION = click.option("--name", default="demo", show_default=True,
                           help="Lab name: namespaces are ca-NAME-scan, ca-NAME-lan, ca-NAME-rtr, ...")


def _lab(name: str) -> Any:
    from camaudit.lab import Lab

    try:
        return Lab(name)
    except ValueError as exc:
        fatal(str(exc), ExitCode.USAGE, prog=PROG)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


@click.group("lab")
def lab_group() -> None:
    """The simulated LAN of persona devices used by tests, the demo and benchmarks.

    Everything stays inside network namespaces named ca-NAME-*: the scanner namespace holds
    198.18.0.1/24 and has no default route; devices sit on 198.18.0.0/24, a routed segment on
    198.18.1.0/24 behind 198.18.0.254, and a --count fleet on 198.19.0.0/16.
    """


@lab_group.command("up")
@NAME_OPTION
@click.option("--personas", "extra", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Extra persona file (repeatable), added to the shipped ones.")
@click.option("--only", multiple=True, metavar="ID", help="Include only these persona ids (repeatable).")
@click.option("--count", type=click.IntRange(1, 4000), default=None,
              help="Build a macvlan fleet of N hosts drawn from the personas on 198.19.0.0/16.")
@click.option("--ipv6", is_flag=True,
              help="Add the IPv6-only and dual-stack personas and the lab's IPv6 segments (fdca:a0d1::/48).")
@click.option("--chatter", is_flag=True,
              help="Devices also announce themselves unasked, as their persona's [chatter] says "
                   "(for `camaudit listen`); off by default.")
def lab_up(name: str, extra: tuple[Path, ...], only: tuple[str, ...], count: int | None, ipv6: bool,
           chatter: bool) -> None:
    """Build the lab and leave it running (its server runs in the background)."""
    from camaudit.lab import LabError, PersonaError

    lab = _lab(name)
    try:
        lab.up(only=list(only) or None, extra_personas=list(extra), count=count, ipv6=ipv6, chatter=chatter)
    except PersonaError as exc:
        fatal(f"bad persona file: {exc}", ExitCode.USAGE, prog=PROG)
    except (LabError, ValueError) as exc:
        fatal(str(exc), ExitCode.USAGE if isinstance(exc, ValueError) else ExitCode.RUNTIME, prog=PROG)
    status = lab.status()
    click.echo(f"lab {name!r} is up: {status['devices']} devices, server pid {status['pid']}, "
               f"{status['up_seconds']} s. Run commands with `camaudit lab exec --name {name} -- CMD`.",
               err=True)


@lab_group.command("down")
@NAME_OPTION
@click.option("--all", "all_labs", is_flag=True, help="Remove every lab that has a state file.")
def lab_down(name: str, all_labs: bool) -> None:
    """Stop the lab's server and delete its namespaces (idempotent)."""
    from camaudit.lab import LabError, all_lab_names

    failed = False
    for each in (all_lab_names() if all_labs else [name]):
        try:
            _lab(each).down()
            click.echo(f"lab {each!r} is down", err=True)
        except LabError as exc:
            click.echo(f"{PROG}: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(ExitCode.RUNTIME)


@lab_group.command("status")
@NAME_OPTION
@click.option("--all", "all_labs", is_flag=True, help="Report every lab that has a state file.")
def lab_status(name: str, all_labs: bool) -> None:
    """Print the lab's state as JSON (server pid and RSS, namespaces, device count)."""
    from camaudit.lab import all_lab_names

    if all_labs:
        _print_json([_lab(n).status() for n in all_lab_names()])
    else:
        _print_json(_lab(name).status())


@lab_group.command("truth")
@NAME_OPTION
def lab_truth(name: str) -> None:
    """Print the ground truth as JSON: per device ip, mac, persona, vendor, brand, model, flagged."""
    from camaudit.lab import LabError

    try:
        _print_json(_lab(name).truth())
    except LabError as exc:
        fatal(str(exc), ExitCode.USAGE, prog=PROG)


@lab_group.command("unplug")
@NAME_OPTION
@click.argument("device")
def lab_unplug(name: str, device: str) -> None:
    """Take a device off the lab network (persona id or ip); `lab plug` brings it back."""
    _switch(name, device, plug=False)


@lab_group.command("plug")
@NAME_OPTION
@click.argument("device")
def lab_plug(name: str, device: str) -> None:
    """Reconnect a device taken off with `lab unplug` (same ip and MAC)."""
    _switch(name, device, plug=True)


def _switch(name: str, device: str, plug: bool) -> None:
    from camaudit.lab import LabError

    lab = _lab(name)
    try:
        found = lab.plug(device) if plug else lab.unplug(device)
    except LabError as exc:
        fatal(str(exc), ExitCode.USAGE, prog=PROG)
    click.echo(f"{found['persona']} ({found['ip']}) {'plugged in' if plug else 'unplugged'}", err=True)


@lab_group.command("exec", context_settings={"ignore_unknown_options": True})
@NAME_OPTION
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(name: str, argv: tuple[str, ...]) -> None:
    """Run a command inside the scanner namespace: `camaudit lab exec -- nmap -n -sn 198.18.0.0/24`."""
    lab = _lab(name)
    if not lab.status()["up"]:
        fatal(f"lab {name!r} is not up: run `camaudit lab up --name {name}`", ExitCode.USAGE, prog=PROG)
    sys.exit(lab.exec(list(argv)).returncode)


@lab_group.command("personas")
@click.option("--personas", "extra", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also validate these persona files.")
@click.option("--ipv6", is_flag=True, help="Include the IPv6-only and dual-stack personas.")
def lab_personas(extra: tuple[Path, ...], ipv6: bool) -> None:
    """Validate and list the personas (id, address, truth) as JSON."""
    from camaudit.lab import PersonaError, select_personas

    try:
        personas = select_personas(None, list(extra), ipv6)
    except PersonaError as exc:
        fatal(f"bad persona file: {exc}", ExitCode.USAGE, prog=PROG)
    _print_json([{"id": p.id, "ip": p.ip, "ipv6": p.ipv6, "mac": p.mac or f"{p.oui}:…", "segment": p.segment,
                  "vendor": p.truth.vendor, "brand": p.truth.brand, "model": p.truth.model,
                  "flagged": p.truth.flagged, "tcp_ports": p.tcp_ports, "file": str(p.source)}
                 for p in personas])


def register(main: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    main.add_command(lab_group)
