"""The configuration of an unattended camaudit: one TOML file, environment overrides, CLI overrides.

A scan run from cron or a systemd timer cannot ask questions, so everything it needs
(targets, excludes, ports, rate, site, policies, database, report outputs, logging) can live
in a file. Precedence, highest first:

    command line  >  environment (CAMAUDIT_<KEY>)  >  config file  >  built-in defaults

The file is the first of: ``--config FILE``, ``$CAMAUDIT_CONFIG``, ``/etc/camaudit/config.toml``,
``<user config dir>/camaudit/config.toml``. A file named explicitly must exist; the two
conventional locations are optional.

Every effective value remembers where it came from (`Config.source`), so
``camaudit config check`` can show why a cron run scans what it scans. Every error names the
file (and line), the key and a fix, because whoever reads it is looking at a mail from cron.

The config never invents targets: the defaults contain none, so a run that names none ends
with a usage error (camaudit.targets refuses an empty target set) instead of a guess.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from camaudit.boundedio import TooLarge, read_capped
from camaudit.report import EXPORTERS

ENV_PREFIX = "CAMAUDIT_"
CONFIG_ENV = "CAMAUDIT_CONFIG"
SYSTEM_CONFIG = Path("/etc/camaudit/config.toml")
MAX_CONFIG_BYTES = 1 << 20  # a hand-written config is a few KiB; refuse to parse a stray huge file
MAX_LIST_ITEMS = 100_000    # targets/excludes lists beyond this belong in a targets file



def user_config_path() -> Path:
    """The per-user config file (platformdirs; ~/.config/camaudit/config.toml on Linux)."""
    return Path(platformdirs.user_config_dir("camaudit")) / "config.toml"


class ConfigError(Exception):
    """A configuration value that cannot be used, with where it came from and how to fix it.

    `str()` gives one line such as
    ``/etc/camaudit/config.toml:4: key 'rate' must be a positive integer (got 'fast'); fix: rate = 200``.
    """

    def __init__(self, where: str, problem: str, fix: str, key: str | None = None) -> None:
        self.where, self.problem, self.fix, self.key = where, problem, fix, key
        self.summary = f"{where}: " + (f"key '{key}' {problem}" if key else problem)
        super().__init__(f"{self.summary}; fix: {fix}")


# --- value kinds -----------------------------------------------------------------------------
# Each kind turns a TOML value into the effective value or raises ValueError with what it
# expected; `from_text` does the same for an environment variable's string.

@dataclass(frozen=True)
class Kind:
    parse: Callable[[Any], Any]
    from_text: Callable[[str], Any]


def _fail(expect: str, got: Any) -> ValueError:
    return ValueError(f"must be {expect} (got {got!r})")


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail("a positive integer", value)
    return value


def _int_text(text: str) -> Any:
    try:
        return int(text.strip())
    except ValueError:
        return text  # let the kind's parse report it with the original spelling


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("a non-empty string", value)
    return value.strip()


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        raise _fail('a list of strings, e.g. ["198.18.0.0/24"]', value)
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        raise _fail(f"a list of at most {MAX_LIST_ITEMS} strings", value)
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or any(c.isspace() for c in item.strip()):
            raise _fail("a list of strings without spaces", item)
        out.append(item.strip())
    return out


def _split_text(text: str) -> list[str]:
    """Environment lists: comma- or whitespace-separated (`198.18.0.0/24,198.18.1.5`)."""
    return [part for part in re.split(r"[,\s]+", text) if part]


def _ports(value: Any) -> list[int]:
    """A list of ports; strings like "8000-8010" are ranges (both ends included)."""
    if not isinstance(value, list) or not value:
        raise _fail("a non-empty list of ports 1-65535, e.g. [80, 443, 554]", value)
    ports: set[int] = set()
    for item in value:
        if isinstance(item, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", item):
            low, high = (int(x) for x in item.split("-"))
            if not 1 <= low <= high <= 65535:
                raise _fail("a port range within 1-65535, low end first", item)
            ports.update(range(low, high + 1))
        elif isinstance(item, str) and item.strip().isdigit():
            ports.add(_port(int(item)))
        else:
            ports.add(_port(item))
    return sorted(ports)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail("a port number 1-65535", value)
    return value


def _choice(*allowed: str) -> Kind:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise _fail("one of " + ", ".join(repr(a) for a in allowed), value)
        return value.strip().lower()
    return Kind(parse, lambda text: text)


def _db_url(value: Any) -> str:
    """A SQLAlchemy URL; parsed (never connected) so a typo is caught by `config check`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from camaudit.redact import mask_secrets

    text = _string(value)
    try:
        make_url(text)
    except (ArgumentError, ValueError):  # ValueError: e.g. a non-numeric port
        raise _fail("a database URL such as sqlite:////var/lib/camaudit/inventory.db "
                    "or postgresql+psycopg://camaudit@db.example/camaudit", mask_secrets(text)) from None
    return text


def _targets(value: Any, *, exclude: bool = False) -> list[str]:
    """Addresses the user names, checked by the scanner's own target parser (one grammar)."""
    from camaudit.targets import TargetError, parse_spec

    items = _string_list(value)
    for item in items:
        try:
            parse_spec(item, exclude=exclude)
        except TargetError as exc:
            raise ValueError(str(exc)) from None
    return items


def _excludes(value: Any) -> list[str]:
    """Like targets; a link-local exclude may omit its zone (it then holds on every interface)."""
    return _targets(value, exclude=True)


def _policy_ids(value: Any) -> list[str]:
    """Ids of shipped policies; an unknown id is a config error now, not a failed scan later."""
    from camaudit.policy import PolicyError, load_policies

    ids = _string_list(value)
    try:
        known = load_policies().ids
    except PolicyError:
        return ids  # broken policy data is not a config error: the scan and `doctor` report it
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"must name shipped policies ({', '.join(known)}) (got {', '.join(map(repr, unknown))})")
    return ids


MAX_COMMUNITIES = 4         # each is tried on every live device that does not answer the one before
MAX_COMMUNITY_BYTES = 255   # RFC 3584 SnmpAdminString: 255 octets at most


def _communities(value: Any) -> list[str]:
    """SNMPv2c communities. They are credentials: no message quotes them, only their position."""
    if not isinstance(value, list) or len(value) > MAX_COMMUNITIES:
        raise ValueError(f"must be a list of at most {MAX_COMMUNITIES} community strings")
    for index, item in enumerate(value, 1):
        if not isinstance(item, str) or not item or len(item.encode()) > MAX_COMMUNITY_BYTES:
            raise ValueError(f"entry #{index} must be a non-empty string of at most {MAX_COMMUNITY_BYTES} bytes "
                             "(value not shown: communities are secrets)")
    return list(dict.fromkeys(value))


POSITIVE_INT = Kind(_positive_int, _int_text)
STRING = Kind(_string, lambda text: text)
PATH = Kind(_string, lambda text: text)
TARGETS = Kind(_targets, _split_text)
EXCLUDES = Kind(_excludes, _split_text)
PORTS = Kind(_ports, _split_text)
DB_URL = Kind(_db_url, lambda text: text)
POLICY_IDS = Kind(_policy_ids, _split_text)
COMMUNITIES = Kind(_communities, _split_text)


def _snmp_users(value: Any) -> Any:
    """SNMPv3 users (`camaudit.probes.snmp_usm.parse_users`): file only, never quoted."""
    from camaudit.probes.snmp_usm import parse_users

    return parse_users(value)


SNMP_USERS = Kind(_snmp_users, lambda text: text)  # text (env) is refused: passphrases stay in the file


# --- the schema --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    """One setting: its name (dotted for tables: `report.html`), kind, default and a fix example."""

    name: str
    kind: Kind
    default: Any
    example: str
    help: str
    option: str = ""  # the CLI spelling when it differs from --<name>
    secret: bool = False  # shown as *** by `config check`; never quoted in an error
    file_only: bool = False  # no environment or CLI form that works (SNMPv3 passphrases)

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.replace(".", "_").upper()

    @property
    def cli(self) -> str:
        if self.file_only:
            return "(file only)"
        return self.option or "--" + self.name.replace(".", "-").replace("_", "-")

    def fix_for(self, source: str) -> str:
        """The example in the syntax of where the bad value came from (file, env or CLI)."""
        value = self.example.rsplit("=", 1)[1].strip()
        if source.startswith(("env ", "cli ")) and not self.file_only:
            plain = ",".join(v.strip().strip('"') for v in value.strip("[]").split(","))
            if source.startswith("env "):
                return f"{self.env}={plain}"
            if not self.cli.startswith("--"):  # positional (TARGET…)
                return "camaudit scan " + plain.replace(",", " ")
            return f"{self.cli} {plain}"
        return self.example.replace("\n", " then ")


KEYS: dict[str, Key] = {k.name: k for k in [
    Key("targets", TARGETS, [], 'targets = ["198.18.0.0/24", "198.18.1.10-40"]',
        "addresses to scan; never guessed", option="TARGET"),
    Key("targets_file", PATH, None, 'targets_file = "/etc/camaudit/targets.txt"',
        "file with one target per line"),
    Key("excludes", EXCLUDES, [], 'excludes = ["198.18.0.254"]',
        "addresses that receive no packet", option="--exclude"),
    Key("exclude_file", PATH, None, 'exclude_file = "/etc/camaudit/excludes.txt"',
        "file with one exclude per line"),
    Key("ports", PORTS, None, "ports = [80, 443, 554, 8000]",
        "TCP ports for discovery and probes (default: the scanner's camera and network-gear ports)"),
    Key("rate", POSITIVE_INT, None, "rate = 200",
        "discovery packets/connection attempts per second (default: the scanner's cap)"),
    Key("max_targets", POSITIVE_INT, None, "max_targets = 65536",
        "refuse larger target sets without --force"),
    Key("engine", _choice("native", "nmap"), None, 'engine = "native"',
        "discovery backend"),
    Key("interface", STRING, None, 'interface = "eth1"',
        "interface for ARP discovery (default: by route to the targets)"),
    Key("site", STRING, None, 'site = "hq"', "site name stored with each scan"),
    Key("policies", POLICY_IDS, [], 'policies = ["us-ndaa-889"]',
        "policy ids that flag devices (default: all shipped policies)", option="--policy"),
    Key("db", DB_URL, None, 'db = "sqlite:////var/lib/camaudit/inventory.db"',
        "inventory database URL (default: SQLite in the user data dir)"),
    *[Key(f"report.{fmt}", PATH, None, f'[report]\n{fmt} = "/var/lib/camaudit/report.{fmt}"',
          f"write the {fmt.upper()} export here after each scan") for fmt in EXPORTERS],
    Key("snmp.communities", COMMUNITIES, [], '[snmp]\ncommunities = ["monitoring-ro"]',
        "SNMPv2c communities to ask devices on UDP 161 (secrets; none: no SNMP packet is sent)",
        option="--snmp-community", secret=True),
    Key("snmp.users", SNMP_USERS, [], '[[snmp.users]]\nuser = "camaudit"\nauth_protocol = "sha256"\n'
        'auth_key = "auth-passphrase"\npriv_protocol = "aes"\npriv_key = "priv-passphrase"',
        "SNMPv3 users (RFC 3414) to ask devices on UDP 161 (secrets; config file only)", secret=True,
        file_only=True),
    Key("log_format", _choice("text", "json"), "text", 'log_format = "json"',
        "log line format (json for SIEM ingestion)"),
    Key("log_file", PATH, None, 'log_file = "/var/log/camaudit/camaudit.log"',
        "append log records to this file as well as stderr"),
    Key("log_level", _choice("debug", "info", "warning", "error"), "warning", 'log_level = "info"',
        "lowest level logged; info adds the scan.started/scan.finished events"),
]}


# --- the effective configuration ---------------------------------------------------------------

@dataclass
class Config:
    """Effective settings with their provenance ("default", "FILE:LINE", "env NAME", "cli --opt")."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    file: Path | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    def source(self, key: str) -> str:
        return self.sources[key]

    def items(self) -> Iterator[tuple[str, Any, str]]:
        """(key, value, source) in schema order, for `config check`."""
        for name in KEYS:
            yield name, self.values[name], self.sources[name]

    def reports(self) -> dict[str, str]:
        """Export format -> path for the report outputs that are set."""
        return {fmt: self.values[f"report.{fmt}"] for fmt in EXPORTERS
                if self.values[f"report.{fmt}"]}

    def db_url(self) -> str:
        """The inventory a command would open: the configured URL or the store's default file."""
        from camaudit.db.store import default_url

        return self.get("db") or default_url()


INPUT_FILES = ("targets_file", "exclude_file")
OUTPUT_FILES = ("log_file", *(f"report.{fmt}" for fmt in EXPORTERS))


def check_paths(config: Config) -> list[ConfigError]:
    """Files the config names that a scan could not use: missing inputs, unwritable outputs.

    Separate from `load_config` because a path may be valid on the scanner but not where the
    config is edited; `camaudit config check` runs this on the scanner itself.
    """
    problems = []
    for name in INPUT_FILES:
        path = config[name] and Path(config[name])
        if path and not (path.is_file() and os.access(path, os.R_OK)):
            problems.append(ConfigError(_where(config.source(name)), f"names {path}, which is not a readable file",
                                        "create it or correct the path", key=name))
    for name in OUTPUT_FILES:
        path = config[name] and Path(config[name])
        if not path:
            continue
        parent = next((p for p in path.absolute().parents if p.exists()), Path("/"))
        if path.is_dir() or not os.access(path if path.exists() else parent, os.W_OK):
            problems.append(ConfigError(_where(config.source(name)), f"names {path}, which this user cannot write",
                                        f"make {parent} writable for this user or choose another path", key=name))
    return problems


def find_config_file(explicit: str | os.PathLike[str] | None,
                     env: Mapping[str, str]) -> Path | None:
    """The file to read: explicit > $CAMAUDIT_CONFIG > /etc > user dir; named files must exist."""
    named = explicit if explicit is not None else env.get(CONFIG_ENV) or None
    if named is not None:
        path = Path(named)
        if not path.exists() or path.is_dir():  # /dev/null is fine: "no settings"
            origin = "--config" if explicit is not None else CONFIG_ENV
            raise ConfigError(str(path), f"config file named by {origin} does not exist",
                              "check the path, or leave it out to use "
                              f"{SYSTEM_CONFIG} or {user_config_path()}")
        return path
    for path in (SYSTEM_CONFIG, user_config_path()):
        if path.is_file():
            return path
    return None


def load_config(cli: Mapping[str, Any] | None = None, *,
                config_path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Merge defaults, the config file, the environment and CLI values; validate all of them.

    `cli` maps key names (e.g. "rate", "report.html") to values the user gave on the command
    line, in the same types as TOML values (tuples from click are fine); None or an empty
    tuple means "not given". Provenance names the option (`Key.cli`). Raises ConfigError.
    """
    env = os.environ if env is None else env
    config = Config()
    for name, key in KEYS.items():
        config.values[name], config.sources[name] = key.default, "default"

    config.file = find_config_file(config_path, env)
    if config.file is not None:
        _apply_file(config, config.file)
    for name, key in KEYS.items():
        if key.env in env:
            _set(config, name, key.kind.from_text(env[key.env]), f"env {key.env}")
    for name, value in (cli or {}).items():
        if name not in KEYS:
            raise ValueError(f"load_config: unknown CLI key {name!r}")  # a programming error
        if value is not None and value != () and value != []:
            if isinstance(value, str):  # "--ports 80,443" arrives as text, like an env value
                value = KEYS[name].kind.from_text(value)
            _set(config, name, list(value) if isinstance(value, tuple) else value,
                 "cli " + KEYS[name].cli)
    return config


def _set(config: Config, name: str, raw: Any, source: str) -> None:
    key = KEYS[name]
    try:
        config.values[name] = key.kind.parse(raw)
    except ValueError as exc:
        raise ConfigError(_where(source), str(exc), key.fix_for(source), key=name) from None
    config.sources[name] = source


def _where(source: str) -> str:
    if source.startswith("env "):
        return f"environment variable {source[4:]}"
    if source.startswith("cli "):
        return f"command line option {source[4:]}"
    return source


def _apply_file(config: Config, path: Path) -> None:
    try:
        raw = read_capped(path, MAX_CONFIG_BYTES)  # counted while reading: a FIFO or /dev/zero too
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the config file ({exc.strerror})",
                          "check the path and that this user may read it") from None
    except TooLarge:
        raise ConfigError(str(path), f"config file is larger than {MAX_CONFIG_BYTES} bytes",
                          "move long target lists into targets_file") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(str(path), "config file is not UTF-8 text", "save it as UTF-8") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ConfigError(str(path), "config file nests arrays or tables too deeply to be a configuration",
                          'use plain values (site = "hq", ports = [80, 443]); '
                          "`camaudit config check --keys` lists every key") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}",
                          'check that line: strings need quotes (site = "hq"), '
                          'lists need brackets (ports = [80, 443])') from None
    for name, value in _flatten(data, path):
        if name not in KEYS:
            raise ConfigError(_located(path, text, name), f"unknown key '{name}'",
                              _did_you_mean(name))
        _set(config, name, value, _located(path, text, name))


def _flatten(data: dict[str, Any], path: Path, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in data.items():
        dotted = prefix + name
        if isinstance(value, dict):
            if prefix or dotted not in {k.split(".")[0] for k in KEYS if "." in k}:
                raise ConfigError(str(path), f"unknown table [{dotted}]", _did_you_mean(dotted))
            yield from _flatten(value, path, dotted + ".")
        else:
            yield dotted, value


def _located(path: Path, text: str, dotted: str) -> str:
    """`path:line` of the key's assignment (best effort: tomllib does not report positions)."""
    leaf = dotted.rsplit(".", 1)[-1]
    pattern = re.compile(rf"^\s*[\"']?{re.escape(leaf)}[\"']?\s*=")
    for lineno, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return f"{path}:{lineno}"
    return str(path)


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, KEYS, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'? (`camaudit config check --keys` lists every key)"
    return "remove it; `camaudit config check --keys` lists every key"
