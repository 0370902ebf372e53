"""The inventory commands end to end on a real SQLite file (CliRunner, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from camaudit.db.errors import (
    BadDatabaseUrl,
    InMemoryDatabase,
    NoSuchScan,
    NotEnoughScans,
    ScanFinished,
    StoreUnavailable,
    UnsupportedDatabase,
)
from camaudit.db.store import Store
from camaudit.cli import main
from camaudit.exitcodes import ExitCode

MAC = "c0:56:e3:00:00:17"


@pytest.fixture
def inventory(tmp_path: Path, flagged_hikvision, identification, run_scan) -> str:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    store = Store(url)
    run_scan(store, [flagged_hikvision(ip="198.18.0.17", mac=MAC),
                     identification(ip="198.18.0.30", mac="00:40:8c:00:00:30", vendor="Axis", brand="Axis", flagged=False,
                           policies=[])])
    run_scan(store, [flagged_hikvision(ip="198.18.0.18", mac=MAC, firmware="V5.7.0")])
    store.close()
    return url


def cli(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--db", url, "--config", "/dev/null"])
    return result.exit_code, result.stdout, result.stderr


def test_findings_and_assets(inventory):
    code, out, _ = cli(inventory, "findings", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["mac"], row["status"], row["ip"]) == (MAC, "open", "198.18.0.18")
    code, out, _ = cli(inventory, "findings", "--status", "remediated")
    assert code == 0 and out.splitlines()[0].startswith("DEVICE") and len(out.splitlines()) == 1
    code, out, _ = cli(inventory, "findings", "--by-policy")
    assert code == 0 and out.splitlines()[0].startswith("FINDING") and len(out.splitlines()) == 2
    code, out, _ = cli(inventory, "assets")
    assert code == 0 and len(out.splitlines()) == 3 and "Axis" in out
    code, out, _ = cli(inventory, "assets", "--flagged", "--json")
    assert [a["mac"] for a in json.loads(out)] == [MAC]


def test_remediate_then_history_shows_the_trail(inventory):
    code, out, _ = cli(inventory, "remediate", MAC, "--status", "in_progress", "--owner", "it-ops",
                       "--due", "2027-01-31", "--note", "ticket 42", "--actor", "alice")
    assert code == 0 and out.startswith("F1: open → in_progress")
    code, out, _ = cli(inventory, "history", MAC, "--json")
    data = json.loads(out)
    assert [s["ip"] for s in data["sightings"]] == ["198.18.0.17", "198.18.0.18"]
    last = data["findings"][0]["events"][-1]
    assert (last["actor"], last["from"], last["to"]) == ("alice", "open", "in_progress")
    assert data["findings"][0]["owner"] == "it-ops"
    code, out, _ = cli(inventory, "history", "198.18.0.18")
    assert code == 0 and "in_progress" in out and "alice" in out


def test_diff_of_the_last_two_scans(inventory):
    code, out, _ = cli(inventory, "diff", "--json")
    d = json.loads(out)
    assert [g["mac"] for g in d["gone"]] == ["00:40:8c:00:00:30"]
    assert d["changed"][0]["changes"]["firmware"] == {"from": "V5.4.5", "to": "V5.7.0"}
    code, out, _ = cli(inventory, "diff", "1", "2")
    assert code == 0 and out.startswith("scan 1 → scan 2: 0 new, 1 gone, 1 changed")
    code, out, _ = cli(inventory, "diff", "--list")
    assert code == 0 and len(out.splitlines()) == 3


@pytest.mark.parametrize("args,message", [
    (("remediate", "F9", "--status", "remediated"), "no finding 9"),
    (("remediate", "F1", "--status", "false_positive"), "give --note with the reason"),
    (("remediate", MAC, "--status", "risk_accepted", "--expires", "2020-01-01"), "give a later --expires"),
    (("remediate", MAC, "--status", "risk_accepted"), "give --expires DATE"),
    (("remediate", MAC, "--status", "in_progress", "--expires", "2099-01-01"), "use --status risk_accepted"),
    (("history", "nonsense"), "not a finding id"),
    (("remediate", "A1", "--status", "remediated"), "has no findings"),
    (("diff", "1", "7"), "no scan 7"),
])
def test_mistakes_exit_2_with_a_way_forward(inventory, args, message):
    code, _, err = cli(inventory, *args)
    assert code == ExitCode.USAGE
    assert message in err


def test_unreachable_database_exits_3(tmp_path):
    code, _, err = cli("postgresql+psycopg://camaudit@127.0.0.1:1/none", "findings")
    assert code == ExitCode.RUNTIME and "cannot open the inventory" in err


def test_db_upgrade_reports_the_revision(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    code, _, err = cli(url, "db", "upgrade")
    assert code == 0 and "(was None)" in err
    code, _, err = cli(url, "db", "upgrade")
    assert code == 0 and "was" not in err


def test_assets_default_all_and_flagged_filters(inventory):
    """The inventory holds a flagged Hikvision and an unflagged Axis: the default and --all
    list both, --flagged only the Hikvision."""
    listed = {}
    for args in ([], ["--all"], ["--flagged"]):
        code, out, err = cli(inventory, "assets", *args, "--json")
        assert code == 0, err
        listed[" ".join(args)] = sorted((a["mac"], a["flagged"]) for a in json.loads(out))
    both = [("00:40:8c:00:00:30", False), (MAC, True)]
    assert listed == {"": both, "--all": both, "--flagged": [(MAC, True)]}


@pytest.mark.parametrize("ref", ["F99999999999999999999999", "99999999999999999999999", "F3000000000"])
def test_remediate_an_id_beyond_the_id_range_is_no_such_finding(inventory, ref):
    code, out, err = cli(inventory, "remediate", ref, "--status", "in_progress")
    assert code == ExitCode.USAGE
    assert err.startswith("camaudit: no finding ") and "camaudit findings" in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_remediate_refuses_an_owner_longer_than_kept(inventory):
    code, _, err = cli(inventory, "remediate", "F1", "--status", "in_progress", "--owner", "o" * 201)
    assert code == ExitCode.USAGE
    assert "owner is too long (201 characters)" in err and "at most 200" in err
    code, out, _ = cli(inventory, "findings", "--json")
    assert json.loads(out)[0]["status"] == "open" and json.loads(out)[0]["owner"] is None


@pytest.mark.parametrize(("url", "error", "facts"), [
    ("sqlite:///:memory:", InMemoryDatabase, {"url": "sqlite:///:memory:"}),
    ("mysql://u@127.0.0.1/inv", UnsupportedDatabase, {"backend": "mysql"}),
    ("not a url", BadDatabaseUrl, {"url": "not a url"}),
])
def test_an_unusable_database_url_is_refused_with_its_facts(url, error, facts):
    with pytest.raises(error) as caught:
        Store(url)
    assert {k: getattr(caught.value, k) for k in facts} == facts


@pytest.mark.parametrize(("url", "advice"), [
    ("sqlite:///:memory:", "give a file path: --db sqlite:///PATH"),
    ("mysql://u@127.0.0.1/inv", "use SQLite or PostgreSQL"),
    # an option libpq does not know is refused by the driver before it connects
    ("postgresql+psycopg://u@127.0.0.1:1/inv?PWD=hunter2", "that the server runs and the file is writable"),
])
def test_the_cli_says_what_to_do_with_an_unusable_database(url, advice):
    code, _, err = cli(url, "assets")
    assert code == ExitCode.RUNTIME and err.count("\n") == 1 and err.rstrip().endswith(advice)
    assert "hunter2" not in err and "Traceback" not in err


def test_an_inventory_file_that_cannot_be_created_names_its_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = blocker / "inv.sqlite3"           # under a regular file: no directory can be made
    with pytest.raises(StoreUnavailable) as caught:
        Store(f"sqlite:///{path}")
    assert caught.value.path == str(path)
    code, _, err = cli(f"sqlite:///{path}", "assets")
    assert code == ExitCode.RUNTIME and "choose a writable path with --db" in err


def test_references_that_name_no_scan_or_several_assets_carry_them(inventory, tmp_path):
    with Store(inventory) as store:
        with pytest.raises(NoSuchScan) as caught:
            store.diff(1, 99)
        assert caught.value.scan_id == 99
        with pytest.raises(ScanFinished) as finished:
            store.finish_scan(1)
        assert (finished.value.scan_id, finished.value.status) == (1, "complete")
    code, _, err = cli(inventory, "diff", "1", "99")
    assert code == ExitCode.USAGE and "no scan 99" in err and "camaudit diff --list" in err
    code, _, err = cli(inventory, "history", "198.18.0.99")
    assert code == ExitCode.USAGE and "list them with `camaudit assets`" in err
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with Store(empty) as store, pytest.raises(NotEnoughScans) as too_few:
        store.diff()
    assert too_few.value.found == 0
