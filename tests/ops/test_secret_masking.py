"""A database password never reaches stdout, stderr or a log file, whatever shape the URL has.

Every command below is run as cron runs it, with the password `hunter2-SECRET` in one of the
forms operators write: SQLAlchemy userinfo, a query parameter, a URL without scheme, a libpq
key=value DSN, and a URL whose port does not parse. Databases are on 127.0.0.1 port 1
(refused) or fail at parse time: nothing leaves loopback. The scan runs in an empty network
namespace (`unshare --net`), so it could not send a packet even if it got that far.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camaudit.exitcodes import ExitCode
from camaudit.redact import mask_secrets

SECRET = "hunter2-SECRET"
URLS = {
    "userinfo": f"postgresql+psycopg://camaudit:{SECRET}@127.0.0.1:1/inv",
    "query": f"postgresql+psycopg://camaudit@127.0.0.1:1/inv?password={SECRET}",
    "query-ssl": f"postgresql+psycopg://camaudit@127.0.0.1:1/inv?sslmode=disable&sslpassword={SECRET}",
    "scheme-less": f"camaudit:{SECRET}@127.0.0.1/inv",
    "libpq-dsn": f"host=127.0.0.1 port=1 password={SECRET} dbname=inv",
    "bad-port": f"postgresql+psycopg://camaudit:{SECRET}@127.0.0.1:99999x/inv",
}
FORMS = pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, text


@pytest.mark.parametrize(("text", "masked"), [
    (f"postgresql://u:{SECRET}@h/db", "postgresql://u:***@h/db"),
    (f"postgresql://u@h/db?password={SECRET}&x=1", "postgresql://u@h/db?password=***&x=1"),
    (f"postgresql://u@h/db?a=1;SslPassword={SECRET}", "postgresql://u@h/db?a=1;SslPassword=***"),
    (f"u:p@{SECRET}@h/db", "u:***@h/db"),  # an unencoded @ in the password
    (f"host=h passwd = '{SECRET} \\' x' user=u", "host=h passwd = *** user=u"),
    (f"pass={SECRET}", "pass=***"),
    ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),  # nothing to hide: unchanged
    ("sqlite:////var/lib/camaudit/inventory.db", "sqlite:////var/lib/camaudit/inventory.db"),
    ("postgresql://[::1]:5432/db compass=north", "postgresql://[::1]:5432/db compass=north"),
])
def test_mask_secrets_shapes(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


@pytest.mark.parametrize("garbage", ["", ":", "@", ":@", "a:b@", "://:@@@", "password=",
                                     "password='unterminated", "\x00:\x00@\x00", "é" * 5000 + ":x@",
                                     "a:" * 20_000 + "@", "password=" * 20_000])
def test_mask_secrets_never_raises(garbage: str) -> None:
    """Device text reaches the log formatters too: long odd runs must not make masking backtrack
    (a single regex took minutes on these; word-wise masking is linear)."""
    masked = mask_secrets(garbage)
    assert isinstance(masked, str) and len(masked) <= len(garbage) + len("***")


@FORMS
def test_a_command_that_opens_the_db_fails_without_the_password(cron, url: str) -> None:
    result = cron("assets", "--db", url, timeout=120)
    assert result.returncode in (ExitCode.USAGE, ExitCode.RUNTIME), result.stderr
    assert result.stderr.startswith("camaudit: ")
    _no_secret(result.stdout, result.stderr)


@FORMS
def test_doctor_text_and_json_hide_the_password(cron, url: str) -> None:
    text = cron("doctor", "--db", url, timeout=120)
    as_json = cron("doctor", "--db", url, "--json", timeout=120)
    _no_secret(text.stdout, text.stderr, as_json.stdout, as_json.stderr)
    assert text.returncode == as_json.returncode == ExitCode.RUNTIME, text.stdout + text.stderr
    checks = {c["name"]: c for c in json.loads(as_json.stdout)}
    assert checks["database"]["level"] == "fail" and "***" in checks["database"]["detail"]
    assert "Traceback" not in text.stderr + as_json.stderr


@FORMS
def test_config_check_text_and_json_hide_the_password(cron, url: str) -> None:
    text = cron("config", "check", CAMAUDIT_DB=url)
    as_json = cron("config", "check", "--json", CAMAUDIT_DB=url)
    _no_secret(text.stdout, text.stderr, as_json.stdout, as_json.stderr)
    assert text.returncode == as_json.returncode
    if text.returncode == ExitCode.CLEAN:  # a URL SQLAlchemy parses is shown, masked
        assert "***" in text.stdout
        assert json.loads(as_json.stdout)["settings"]["db"]["value"] == mask_secrets(url)
    else:
        assert text.returncode == ExitCode.USAGE and "***" in text.stderr


@FORMS
def test_scan_error_and_json_log_hide_the_password(cron, tmp_path: Path, url: str) -> None:
    log = tmp_path / "camaudit.log"
    result = cron.within("unshare", "--net")(
        "scan", "198.18.0.1", "--db", url, "--log-format", "json", "--log-level", "debug", "--log-file", str(log),
        timeout=120)
    assert result.returncode in (ExitCode.USAGE, ExitCode.RUNTIME), result.stderr
    logged = log.read_text() if log.exists() else ""
    _no_secret(result.stdout, result.stderr, logged)
    if result.returncode == ExitCode.RUNTIME:  # the URL parsed, the database refused: logged
        events = [json.loads(line) for line in logged.splitlines()]
        assert any(e.get("event") == "scan.failed" and "***" in e["msg"] for e in events), logged


def test_doctor_reports_an_unparsable_port_as_a_failed_check(cron) -> None:
    result = cron("doctor", "--db", URLS["bad-port"], "--json", timeout=120)
    assert result.returncode == ExitCode.RUNTIME, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    database = checks["database"]
    assert database["level"] == "fail"
    assert database["detail"].startswith("cannot parse the database URL postgresql+psycopg://camaudit:***@")
    assert "99999x" in database["detail"] and "port" in database["fix"]
    assert "crashed" not in result.stdout and "Traceback" not in result.stderr
