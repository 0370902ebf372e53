"""CLI wiring for `camaudit import`: other tools' output and captures → observations (JSON Lines).

`import nmap` reads nmap XML; `import pcap` reads pcap/pcapng captures through the decoders of
`camaudit.passive` (docs/passive.md), sending nothing. Feed the output to `camaudit ingest`
or `camaudit match` like any other observation file.
"""

from __future__ import annotations

import click

from camaudit import __version__
from camaudit.cli.common import fatal, stdout_text
from camaudit.exitcodes import ExitCode
from camaudit.observation import write_jsonl
from camaudit.outfile import OutputFileError, output_text


@click.group("import")
def import_group() -> None:
    """Turn other tools' output into camaudit observations."""


@import_group.command("nmap")
@click.argument("xml_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="Where to write the observations (JSON Lines).")
def import_nmap(xml_file: str, output: str) -> None:
    """Read nmap XML (`nmap -n -sV -oX FILE`, MACs when run on the local segment) as observations.

    Pipe the result into `camaudit match` to identify the devices.
    """
    from itertools import chain

    from camaudit.imports.nmap_xml import NmapXmlError, read_file

    observations = read_file(xml_file)  # a generator: written as the file is read
    try:
        first = next(observations, None)  # a file that is not nmap XML fails before any output
        with (stdout_text() if output == "-" else output_text(output)) as out:
            count = write_jsonl(chain([first] if first is not None else [], observations), out,
                                f"camaudit {__version__} import nmap")
    except NmapXmlError as exc:
        fatal(f"cannot import {xml_file}: {exc}", ExitCode.USAGE)
    except OutputFileError as exc:
        fatal(str(exc), exc.exit_code)
    click.echo(f"{count} observations from {xml_file}", err=True)



@import_group.command("pcap")
@click.argument("capture_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="Where to write the observations (JSON Lines).")
def import_pcap(capture_files: tuple[str, ...], output: str) -> None:
    """Read pcap or pcapng captures (gzip-compressed too; told by content, not name) and write
    what devices said in them as observations, sending nothing.

    A file that is not a capture is reported and skipped (exit 2); a damaged file keeps what
    was read before the damage (exit 3). Then: `camaudit ingest OUT.jsonl`.
    """
    from camaudit.passive.importer import FileResult, import_captures

    def report(done: FileResult) -> None:
        if done.unusable:
            click.echo(f"camaudit: {done.path}: {done.unusable}", err=True)
            return
        click.echo(f"{done.path}: {done.format}, {done.packets} packets"
                   + (f", {done.skipped} without a usable interface" if done.skipped else ""), err=True)
        if done.damage:
            click.echo(f"camaudit: {done.path}: stopped reading: {done.damage}; "
                       "the packets before it were used", err=True)

    try:
        with (stdout_text() if output == "-" else output_text(output)) as out:
            result = import_captures(capture_files, out, f"camaudit {__version__} import pcap", on_file=report)
    except OutputFileError as exc:
        fatal(str(exc), exc.exit_code)
    stats = result.stats
    # a held fragment is not lost: its datagram is decoded once whole
    dropped = ", ".join(f"{n} {reason}" for reason, n in stats.dropped.most_common() if reason != "fragment-held")
    click.echo(f"{result.written} observations from {stats.frames} frames"
               + (f" (not decoded: {dropped})" if dropped else ""), err=True)
    unreadable = ", ".join(f"{d.name} {d.unreadable}" for d in result.decoders if d.unreadable)
    if unreadable:
        click.echo(f"datagrams not read as answers (searches, garbage): {unreadable}", err=True)
    for name, count in stats.errors.items():
        click.echo(f"camaudit: decoder {name} failed on {count} packets (a bug: please report it)", err=True)
    if any(f.unusable for f in result.files):
        raise SystemExit(ExitCode.USAGE)
    if any(f.damage for f in result.files):
        raise SystemExit(ExitCode.RUNTIME)


def register(main: click.Group) -> None:
    """Attach the `import` group to the top-level group."""
    main.add_command(import_group)
