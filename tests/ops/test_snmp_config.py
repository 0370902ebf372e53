"""SNMP communities are configuration secrets: accepted from file, env and CLI, never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camaudit.config import ConfigError, load_config
from camaudit.exitcodes import ExitCode

SECRET = "s3cret-community-91"


def test_communities_come_from_file_env_and_cli_with_their_source(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[snmp]\ncommunities = ["{SECRET}", "second"]\n')
    config = load_config(config_path=path, env={})
    assert config["snmp.communities"] == [SECRET, "second"] and config.source("snmp.communities") == f"{path}:2"
    env = load_config(config_path=path, env={"CAMAUDIT_SNMP_COMMUNITIES": "a,b"})
    assert env["snmp.communities"] == ["a", "b"]
    cli = load_config({"snmp.communities": ("c",)}, config_path=path, env={})
    assert cli["snmp.communities"] == ["c"] and cli.source("snmp.communities") == "cli --snmp-community"
    assert load_config(config_path="/dev/null", env={})["snmp.communities"] == []  # none unless configured


@pytest.mark.parametrize("value", [[SECRET * 20], [SECRET, ""], [SECRET] * 5, [1]])
def test_a_bad_community_is_refused_without_quoting_it(tmp_path: Path, value: list) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[snmp]\ncommunities = {json.dumps(value)}\n")
    with pytest.raises(ConfigError) as err:
        load_config(config_path=path, env={})
    assert SECRET not in str(err.value) and "snmp.communities" in str(err.value)


def test_config_check_masks_communities(cron, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[snmp]\ncommunities = ["{SECRET}", "other-one"]\n')
    text = cron("config", "check", "--config", str(config))
    as_json = cron("config", "check", "--json", "--config", str(config))
    assert text.returncode == as_json.returncode == ExitCode.CLEAN, text.stderr + as_json.stderr
    assert SECRET not in text.stdout + as_json.stdout and "other-one" not in text.stdout + as_json.stdout
    line = next(line for line in text.stdout.splitlines() if line.strip().startswith("snmp.communities"))
    assert "***, ***" in line
    assert json.loads(as_json.stdout)["settings"]["snmp.communities"]["value"] == ["***", "***"]


def test_scan_refuses_a_bad_snmp_community_option_without_echoing_it(cron) -> None:
    # every target is also excluded: even a wrongly accepted option could not send a packet
    result = cron("scan", "--no-store", "--snmp-community", SECRET * 20,
                  "--exclude", "198.18.0.5", "198.18.0.5")
    assert result.returncode == ExitCode.USAGE
    assert SECRET not in result.stdout + result.stderr and "--snmp-community" in result.stderr
    accepted = cron("scan", "--no-store", "--snmp-community", SECRET, "--exclude", "198.18.0.5", "198.18.0.5")
    assert accepted.returncode == ExitCode.USAGE and "every target is excluded" in accepted.stderr, accepted.stderr
    assert SECRET not in accepted.stdout + accepted.stderr
