"""Config loading: precedence, provenance, and errors that name file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camaudit.config import KEYS, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_invent_no_targets(tmp_path: Path) -> None:
    config = load_config(config_path=write(tmp_path, ""), env={})
    assert config["targets"] == [] and config["targets_file"] is None
    assert config.source("targets") == "default"


def test_precedence_cli_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = write(tmp_path, 'targets = ["198.18.0.0/24"]\nrate = 50\nsite = "file-site"\n'
                           'ports = [80, "8000-8002"]\n[report]\nhtml = "/tmp/r.html"\n')
    env = {"CAMAUDIT_RATE": "60", "CAMAUDIT_SITE": "env-site", "CAMAUDIT_UNRELATED": "x"}
    config = load_config({"rate": 70, "excludes": ("198.18.0.9",), "site": None},
                         config_path=path, env=env)
    assert (config["rate"], config.source("rate")) == (70, "cli --rate")
    assert (config["site"], config.source("site")) == ("env-site", "env CAMAUDIT_SITE")
    assert (config["targets"], config.source("targets")) == (["198.18.0.0/24"], f"{path}:1")
    assert config["ports"] == [80, 8000, 8001, 8002]
    assert (config["excludes"], config.source("excludes")) == (["198.18.0.9"], "cli --exclude")
    assert config.reports() == {"html": "/tmp/r.html"}
    assert config.source("report.html") == f"{path}:6"
    assert (config["log_format"], config.source("log_format")) == ("text", "default")


def test_env_lists_and_cli_text_are_split(tmp_path: Path) -> None:
    config = load_config({"ports": "80,443"}, config_path=write(tmp_path, ""),
                         env={"CAMAUDIT_TARGETS": "198.18.0.0/24, 198.18.1.10-40",
                              "CAMAUDIT_LOG_FORMAT": "JSON"})
    assert config["targets"] == ["198.18.0.0/24", "198.18.1.10-40"]
    assert config["ports"] == [80, 443]
    assert config["log_format"] == "json"


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, 'site = "via-env"\n')
    config = load_config(env={"CAMAUDIT_CONFIG": str(path)})
    assert config.file == path and config["site"] == "via-env"


@pytest.mark.parametrize("text, message", [
    ('rate = "fast"\n', "config.toml:1: key 'rate' must be a positive integer (got 'fast'); fix: rate = 200"),
    ('site = "x"\nrat = 5\n', "config.toml:2: unknown key 'rat'; fix: did you mean 'rate'?"),
    ("ports = [80, 70000]\n", "key 'ports' must be a port number 1-65535 (got 70000)"),
    ('targets = "198.18.0.0/24"\n', "key 'targets' must be a list of strings"),
    ('targets = ["198.18.0.300"]\n', "key 'targets' cannot use target '198.18.0.300'"),
    ('log_format = "xml"\n', "key 'log_format' must be one of 'text', 'json' (got 'xml')"),
    ('db = "not a url"\n', "key 'db' must be a database URL"),
    ("targets = [198.18.0.0/24]\n", "not valid TOML"),
    ('[reporting]\nhtml = "x"\n', "unknown table [reporting]; fix: did you mean 'report"),
    ('[report]\npdf = "x"\n', "unknown key 'report.pdf'"),
    ("rate = true\n", "must be a positive integer (got True)"),
    ('policies = ["us-ndaa-888"]\n', "key 'policies' must name shipped policies (au-commonwealth-2023"),
])
def test_broken_files_name_file_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, env={})
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert "; fix: " in str(caught.value)


def test_bad_env_and_cli_values_say_how_to_fix_them_there(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"^environment variable CAMAUDIT_RATE: .*fix: CAMAUDIT_RATE=200$"):
        load_config(config_path=path, env={"CAMAUDIT_RATE": "fast"})
    with pytest.raises(ConfigError, match=r"^command line option --exclude: .*fix: --exclude 198.18.0.254$"):
        load_config({"excludes": ("nope",)}, config_path=path, env={})


def test_missing_named_file_is_an_error_but_missing_default_locations_are_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_path=tmp_path / "absent.toml", env={})
    with pytest.raises(ConfigError, match="CAMAUDIT_CONFIG"):
        load_config(env={"CAMAUDIT_CONFIG": str(tmp_path / "absent.toml")})


def test_non_utf8_and_oversized_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'site = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(config_path=path, env={})
    path.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(config_path=path, env={})


def test_every_key_example_is_itself_valid(tmp_path: Path) -> None:
    """The 'fix' we print must be accepted when the user pastes it."""
    for key in KEYS.values():
        config = load_config(config_path=write(tmp_path, key.example + "\n"), env={})
        assert config.source(key.name).startswith(str(tmp_path)), key.name
        if key.file_only:  # refused from the environment, and the fix says the file
            assert key.fix_for("env x") == key.fix_for(str(tmp_path))
            continue
        env_fix = key.fix_for("env x").split("=", 1)
        assert load_config(config_path=write(tmp_path, ""), env={env_fix[0]: env_fix[1]}).source(key.name) \
            == f"env {key.env}"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".toml") as f:
        f.write(data)
        f.flush()
        try:
            load_config(config_path=f.name, env={})
        except ConfigError as exc:
            assert str(exc).startswith(f.name) and "; fix: " in str(exc)


def test_a_malformed_database_url_is_reported_without_its_password(tmp_path: Path) -> None:
    path = write(tmp_path, 'db = "postgresql+psycopg://scan:s3cret@db.example:notaport/camaudit"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, env={})
    assert "s3cret" not in str(caught.value) and "scan:***@db.example" in str(caught.value)
