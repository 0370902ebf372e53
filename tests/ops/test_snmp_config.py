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


USERS = f'''[[snmp.users]]
user = "ops-v3"
auth_protocol = "sha256"
auth_key = "{SECRET}-auth"
priv_protocol = "aes"
priv_key = "{SECRET}-priv"

[[snmp.users]]
user = "monitor"
auth_protocol = "sha"
auth_key = "{SECRET}-mon"
'''


def test_v3_users_come_from_the_file_and_are_masked(cron, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(USERS)
    users = load_config(config_path=path, env={})["snmp.users"]
    assert [(u.name, u.level, u.auth, u.priv) for u in users] == [("ops-v3", "authPriv", "sha256", "aes"),
                                                                  ("monitor", "authNoPriv", "sha", None)]
    assert SECRET not in repr(users)
    text = cron("config", "check", "--config", str(path))
    as_json = cron("config", "check", "--json", "--config", str(path))
    assert text.returncode == as_json.returncode == ExitCode.CLEAN, text.stderr + as_json.stderr
    assert SECRET not in text.stdout + text.stderr + as_json.stdout + as_json.stderr
    assert json.loads(as_json.stdout)["settings"]["snmp.users"]["value"] == ["***", "***"]


@pytest.mark.parametrize("table, expect", [
    ('auth_protocol = "sha"\nauth_key = "short"', "passphrase of 8"),
    ('auth_protocol = "sha"\nauth_key = "long-enough-1"\npriv_protocol = "des"\npriv_key = "long-enough-2"', "'des' is not supported"),
    ('auth_protocol = "hmac"\nauth_key = "long-enough-1"', "auth_protocol must be one of"),
    ('priv_protocol = "aes"\npriv_key = "long-enough-2"', "without auth_protocol"),
    ('auth_protocol = "sha"\nauthkey = "long-enough-1"', "unknown key 'authkey'"),
])
def test_a_bad_v3_user_is_a_one_line_usage_error_without_its_passphrase(cron, tmp_path: Path, table: str,
                                                                          expect: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[[snmp.users]]\nuser = "ops"\n{table}\n')
    with pytest.raises(ConfigError) as err:
        load_config(config_path=path, env={})
    assert expect in str(err.value) and "snmp.users" in str(err.value)
    for value in ("short", "long-enough-1", "long-enough-2"):
        assert value not in str(err.value)
    result = cron("config", "check", "--config", str(path))
    assert result.returncode == ExitCode.USAGE and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "long-enough" not in result.stdout + result.stderr


def test_v3_users_are_not_taken_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(config_path="/dev/null", env={"CAMAUDIT_SNMP_USERS": f"ops:sha:{SECRET}"})
    assert "config file only" in str(err.value) and "CAMAUDIT_SNMP_USERS=" not in str(err.value)
    assert SECRET not in str(err.value)
