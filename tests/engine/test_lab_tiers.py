"""`camaudit scan` against a lab device that only a weak signal names: it is flagged as
`possible`, listed for review in the scan's table and JSON, stored with its tier, and the
scan exits 0; beside a confirmed device the same scan exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camaudit.db.store import Store
from tests.engine.test_lab_cli import run

pytestmark = pytest.mark.lab
PERSONA = Path(__file__).parent / "personas" / "proxied-hikvision-page.toml"


def test_a_possible_device_is_listed_for_review_without_exit_1(lab_factory, tmp_path) -> None:
    lab = lab_factory(only=["proxied-hikvision-page", "hikvision-camera"], extra_personas=[PERSONA])
    proxy = next(d["ip"] for d in lab.truth() if d["persona"] == "proxied-hikvision-page")
    camera = next(d["ip"] for d in lab.truth() if d["persona"] == "hikvision-camera")
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"

    r = run(lab, "scan", proxy, "--db", url, "--json")
    assert r.returncode == 0, r.stderr
    [device] = [d for d in json.loads(r.stdout)["devices"] if d["ip"] == proxy]
    assert (device["vendor"], device["flagged"], device["tier"]) == ("Hikvision", True, "possible")
    assert {"field": "server", "value": "nginx/1.22.1", "where": "http:80", "lowers_tier": True} in device["conflicts"]

    r = run(lab, "scan", proxy, "--db", url)
    assert r.returncode == 0, r.stderr
    assert "1 possible (to review, not counted in the exit code)" in r.stdout and "possible" in r.stdout

    assert run(lab, "scan", proxy, "--no-store").returncode == 0       # counted without a store too
    r = run(lab, "scan", proxy, camera, "--db", url)
    assert r.returncode == 1, r.stdout + r.stderr
    assert run(lab, "scan", proxy, camera, "--no-store").returncode == 1
    with Store(url) as store:
        assert {row["ip"]: row["tier"] for row in store.finding_rows()} == {proxy: "possible", camera: "confirmed"}
