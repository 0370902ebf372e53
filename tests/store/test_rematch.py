"""`rematch`: stored observations meet updated fingerprints; findings follow, with events."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from camaudit.db.models import StoredObservation
from camaudit.db.store import Store
from camaudit.cli import main
from camaudit.exitcodes import ExitCode
from camaudit.fingerprints.loader import build_set, fingerprint_files
from camaudit.fingerprints.vocabulary import load_vocabulary
from camaudit.identify import identify
from camaudit.observation import Observation
from camaudit.oui import load_layers
from camaudit.policy import load_policies

# A fingerprint the shipped set lacks: a Hikvision OEM board whose web server says MysteryCam.
EXTRA = '''
vendor = "Hikvision"

[[fingerprint]]
id = "test.mysterycam.server"
field = "http.headers.server"
pattern = '^MysteryCam/'
weight = 0.9
description = "Test-only: an OEM web server of Hikvision lineage."
reference = "tests/store/test_rematch.py"
examples = [{ value = "MysteryCam/2.1" }]
'''


def observations(ip: str, mac: str, server: str) -> list[Observation]:
    return [Observation(source="arp", ip=ip, mac=mac),
            Observation(source="http", ip=ip, mac=mac, port=80,
                        data={"path": "/", "status": 200, "headers": {"Server": server}})]


def stored_scan(store: Store, obs: list[Observation], identify_with) -> int:
    sid = store.begin_scan(["198.18.0.0/24"], "hq", list(load_policies()), "test", "shipped")
    store.add_observations(sid, obs)
    store.record_identifications(sid, identify_with(obs), ["198.18.0.0/24"])
    store.finish_scan(sid)
    return sid


def test_rematch_flags_a_stored_device_after_a_fingerprint_is_added(store):
    obs = observations("198.18.0.40", "02:00:00:00:00:40", "MysteryCam/2.1")
    stored_scan(store, obs, identify)
    assert store.finding_rows() == [] and store.assets()[0]["vendor"] is None

    updated = build_set([*fingerprint_files(), ("tests/extra.toml", EXTRA)], load_vocabulary(),
                        load_layers())
    result = store.rematch(lambda o: identify(o, updated), fingerprint_version="shipped+mystery")
    assert (result.assets, result.changed_assets) == (1, 1)
    rows = store.finding_rows(policy="us-ndaa-889")
    assert [(r["vendor"], r["status"], r["mac"]) for r in rows] == [("Hikvision", "open", "02:00:00:00:00:40")]
    assert rows[0]["policy_title"] != "us-ndaa-889"       # title stored by begin_scan's policies
    assert rows[0]["evidence"][0]["fingerprint"] == "test.mysterycam.server"
    assert "MysteryCam/2.1" in rows[0]["evidence_summary"]
    [event] = store.events(rows[0]["finding_id"])
    assert (event["actor"], event["from"], event["to"], event["scan_id"]) == (
        "camaudit rematch", None, "open", None)
    assert event["note"] == "first flagged in rematch with fingerprints shipped+mystery"

    # the fingerprint is withdrawn: the open findings lose their support
    result = store.rematch(identify, fingerprint_version="shipped")
    assert result.findings_cleared == len(rows := store.finding_rows()) and rows
    assert {r["status"] for r in rows} == {"false_positive"}
    assert store.events(rows[0]["finding_id"])[-1]["note"].startswith("no longer flagged under")


def test_cli_rematch_uses_the_installed_fingerprints(tmp_path: Path):
    """Stored with an older matcher that knew nothing: the shipped set flags App-webs/."""
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    store = Store(url)
    obs = observations("198.18.0.41", "02:00:00:00:00:41", "App-webs/")
    blank = build_set([], load_vocabulary(), load_layers())
    stored_scan(store, obs, lambda o: identify(o, blank))
    assert store.finding_rows() == []
    store.close()
    result = CliRunner().invoke(main, ["rematch", "--policy", "us-ndaa-889", "--json",
                                       "--db", url, "--config", "/dev/null"])
    assert result.exit_code == ExitCode.FLAGGED, result.output
    assert json.loads(result.stdout)["findings_opened"] == 1
    store = Store(url)
    [row] = store.finding_rows()
    assert (row["vendor"], row["policy_id"]) == ("Hikvision", "us-ndaa-889")
    store.close()


def test_rematch_identifies_each_device_of_a_scan_on_its_own(store):
    """One identify run serves a whole scan's devices: each asset still gets its own answer."""
    obs = [*observations("198.18.0.42", "02:00:00:00:00:42", "MysteryCam/2.1"),
           *observations("198.18.0.43", "02:00:00:00:00:43", "nginx"),
           Observation(source="http", ip="198.18.0.44", port=80,     # routed: no MAC
                       data={"path": "/", "status": 200, "headers": {"Server": "MysteryCam/3"}})]
    stored_scan(store, obs, identify)
    updated = build_set([*fingerprint_files(), ("tests/extra.toml", EXTRA)], load_vocabulary(),
                        load_layers())
    result = store.rematch(lambda o: identify(o, updated))
    assert (result.assets, result.changed_assets) == (3, 2)
    assert {(a["ip"], a["vendor"]) for a in store.assets()} == {
        ("198.18.0.42", "Hikvision"), ("198.18.0.43", None), ("198.18.0.44", "Hikvision")}
    rows = store.finding_rows(policy="us-ndaa-889")
    assert sorted(r["ip"] for r in rows) == ["198.18.0.42", "198.18.0.44"]
    assert {e["value"] for r in rows for e in r["evidence"]} == {"MysteryCam/2.1", "MysteryCam/3"}


def test_json_columns_keep_what_orjson_refuses(store):
    """A value orjson will not encode (an integer beyond 64 bits) is stored by the stdlib
    encoder and reads back as it was; a lone surrogate was made valid text (U+FFFD) when the
    observation was made, so it is stored replaced, never refused."""
    odd = {"path": "/", "status": 200, "headers": {"Server": "x\ud800y"}, "size": 2 ** 70}
    sid = store.begin_scan(["198.18.0.0/24"], "hq", [], "test", None)
    store.add_observations(sid, [Observation(source="http", ip="198.18.0.45", port=80, data=odd)])
    with store.engine.connect() as conn:
        [raw] = conn.execute(select(StoredObservation.raw)).scalars()
    assert raw["data"] == {**odd, "headers": {"Server": "x\ufffdy"}}


def test_rematch_under_one_policy_leaves_the_findings_of_others_alone(store):
    """A Hikvision device flagged under every shipped policy; rematch evaluating only
    us-ndaa-889 must not judge (clear) the findings of the policies it did not evaluate."""
    obs = observations("198.18.0.41", "c0:56:e3:00:00:41", "App-webs/")
    stored_scan(store, obs, identify)
    before = {r["policy_id"]: (r["finding_id"], r["status"]) for r in store.finding_rows()}
    assert {"us-ndaa-889", "ca-hikvision-2025"} <= before.keys()
    trails = {fid: store.events(fid) for fid, _ in before.values()}

    only = load_policies(["us-ndaa-889"])
    result = store.rematch(lambda o: identify(o, None, only), policies=list(only))
    assert result.findings_cleared == 0
    after = {r["policy_id"]: (r["finding_id"], r["status"]) for r in store.finding_rows()}
    assert after == before and all(status == "open" for _, status in after.values())
    assert {fid: store.events(fid) for fid, _ in after.values()} == trails


def test_rematch_still_clears_a_finding_of_an_evaluated_policy(store):
    obs = observations("198.18.0.42", "c0:56:e3:00:00:42", "App-webs/")
    stored_scan(store, obs, identify)
    only = load_policies(["us-ndaa-889"])
    # the new identification no longer flags the device under the evaluated policy
    cleared = store.rematch(lambda o: [_unflagged(i) for i in identify(o, None, only)],
                            policies=list(only))
    assert cleared.findings_cleared == 1
    statuses = {r["policy_id"]: r["status"] for r in store.finding_rows()}
    assert statuses.pop("us-ndaa-889") == "false_positive"
    assert set(statuses.values()) == {"open"}


def _unflagged(ident):
    ident.flagged, ident.policies = False, []
    return ident
