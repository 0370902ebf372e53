"""OUI naming: exact organisations, longest prefix, randomized MACs, offline refresh."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.fingerprints.data import data_root
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.fingerprints.vocabulary import load_vocabulary
from camaudit.oui import (FLAGGED_CSV, OuiDataError, bundled_ieee_path, flagged_layer, is_locally_administered,
                         load_layers, parse_registry, read_layer_csv, refresh)

# IEEE CSV excerpts in the registry's own format (https://standards-oui.ieee.org/oui36/oui36.csv columns).
MAM_CSV = """Registry,Assignment,Organization Name,Organization Address
MA-M,70B3D51,Shanghai Dahua Scale Factory,"Shanghai CN 200000"
MA-M,C056E3A,Some Camera Integrator Ltd,"Somewhere"
"""
OUI36_CSV = """Registry,Assignment,Organization Name,Organization Address
MA-S,C056E3A12,Tiny Block Holder,"Here"
"""


def test_bundled_list_is_the_packaged_file_not_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """mac-vendor-lookup prefers ~/.cache/mac-vendors.txt; a stale or edited one must not change results."""
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "mac-vendors.txt").write_text("AABBCC:Hangzhou Hikvision Digital Technology Co.,Ltd.\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    path = bundled_ieee_path()
    assert path is not None and ".cache/mac-vendors.txt" not in str(path).replace(str(Path.home()), "~") \
        and tmp_path not in path.parents
    table = load_layers(tmp_path / "no-user-data")
    assert table.lookup("aa:bb:cc:00:00:01") is None or "Hikvision" not in table.lookup("aa:bb:cc:00:00:01").organization


def test_flagged_table_holds_every_bundled_block_of_the_flagged_organisations() -> None:
    path = bundled_ieee_path()
    assert path is not None, "mac-vendor-lookup's bundled list is missing"
    registry, _ = parse_registry(path.read_text(errors="replace"), str(path))
    expected = flagged_layer(registry, load_vocabulary().flagged_orgs)
    shipped = read_layer_csv(data_root().joinpath(FLAGGED_CSV).read_text())
    missing = {bits: set(expected[bits]) - set(shipped[bits]) for bits in expected}
    assert not any(missing.values()), f"rebuild with `camaudit oui build-flagged`: {missing}"
    counts = {org: 0 for org in ("Hangzhou Hikvision Digital Technology Co.,Ltd.", "zte corporation",
                                 "Hytera Communications Corporation Limited")}
    for table in shipped.values():
        for org in table.values():
            if org in counts:
                counts[org] += 1
    assert counts["Hangzhou Hikvision Digital Technology Co.,Ltd."] >= 78 and counts["zte corporation"] >= 475
    assert counts["Hytera Communications Corporation Limited"] >= 1


@pytest.mark.parametrize("mac,org,brand,vendor", [
    ("c0:56:e3:12:34:56", "Hangzhou Hikvision Digital Technology Co.,Ltd.", "Hikvision", "Hikvision"),
    ("9c:06:6e:00:00:01", "Hytera Communications Corporation Limited", "Hytera", "Hytera"),
    ("64:69:bc:00:00:01", "Hytera Communications Co .,ltd", "Hytera", "Hytera"),
    ("e0:50:8b:00:00:01", "Zhejiang Dahua Technology Co., Ltd.", "Dahua", "Dahua"),
    ("00:1f:54:00:00:01", "Lorex Technology Inc.", "Lorex", None),        # OEM label: no lineage
    ("ac:cc:8e:00:00:01", "Axis Communications AB", "Axis", "Axis"),
])
def test_exact_organisations_name_brand_and_vendor(fset: FingerprintSet, mac: str, org: str,
                                                    brand: str, vendor: str | None) -> None:
    hit = fset.oui.lookup(mac)
    assert hit is not None and hit.organization == org and hit.bits == 24
    assert fset.vocabulary.brand_of_org(hit.organization) == brand
    assert fset.vocabulary.lineage(brand) == vendor


def test_substrings_never_name_a_vendor(fset: FingerprintSet) -> None:
    """'Aztech' contains 'zte'; it is not ZTE."""
    aztech = next(line.split(":", 1)[0] for line in bundled_ieee_path().read_text().splitlines()
                  if line.endswith(":Aztech Associates Inc."))
    mac = ":".join([aztech[0:2], aztech[2:4], aztech[4:6], "00", "00", "01"]).lower()
    hit = fset.oui.lookup(mac)
    assert hit is not None and hit.organization == "Aztech Associates Inc."
    assert fset.vocabulary.brand_of_org(hit.organization) is None
    assert fset.vocabulary.brand_of_org("SHANGHAI ZTE TECHNOLOGIES") is None
    assert fset.vocabulary.brand_of_org("Shanghai Dahua Scale Factory") is None


@pytest.mark.parametrize("mac", ["02:06:6e:00:00:01", "c2:56:e3:12:34:56", "9e:06:6e:00:00:01", "c1:56:e3:00:00:00"])
def test_locally_administered_and_multicast_macs_have_no_organisation(fset: FingerprintSet, mac: str) -> None:
    assert fset.oui.lookup(mac) is None
    if int(mac[:2], 16) & 2:
        assert is_locally_administered(mac)


def test_refresh_imports_ieee_csvs_and_longest_prefix_wins(tmp_path: Path) -> None:
    (tmp_path / "mam.csv").write_text(MAM_CSV)
    (tmp_path / "oui36.csv").write_text(OUI36_CSV)
    data = tmp_path / "data"
    first = refresh(tmp_path / "mam.csv", data)
    assert (first.added, first.total) == (2, 2)
    second = refresh(tmp_path / "oui36.csv", data)
    assert (second.added, second.total) == (1, 3)
    table = load_layers(data)
    assert table.lookup("70:b3:d5:1f:ff:ff").organization == "Shanghai Dahua Scale Factory"   # /28
    assert table.lookup("70:b3:d5:1f:ff:ff").bits == 28
    # inside Hikvision's /24: the /36 beats the /28 beats the /24
    assert table.lookup("c0:56:e3:a1:20:00").organization == "Tiny Block Holder"
    assert table.lookup("c0:56:e3:a1:30:00").organization == "Some Camera Integrator Ltd"
    assert table.lookup("c0:56:e3:b0:00:00").organization == "Hangzhou Hikvision Digital Technology Co.,Ltd."
    assert table.lookup("c0:56:e3:a1:20:00").layer == "user"


def test_refresh_accepts_mac_vendors_txt_and_oui_txt(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A4CDEF:Example Org\nnot a line\n")
    (tmp_path / "b.txt").write_text("A4-CD-EE   (hex)\t\tOther Org\nA4CDEE     (base 16)\t\tOther Org\n\t\t\tStreet 1\n")
    r = refresh(tmp_path / "a.txt", tmp_path / "d")
    assert (r.added, r.skipped) == (1, 1)
    refresh(tmp_path / "b.txt", tmp_path / "d")
    table = load_layers(tmp_path / "d")
    assert table.lookup("a4:cd:ef:00:00:00").organization == "Example Org"
    assert table.lookup("a4:cd:ee:00:00:00").organization == "Other Org"


def test_refresh_rejects_a_file_without_entries(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("hello,world\n")
    with pytest.raises(OuiDataError, match=r"x\.csv: no OUI entries recognised"):
        refresh(tmp_path / "x.csv", tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_oui_cli_refresh_and_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMAUDIT_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "mam.csv").write_text(MAM_CSV)
    runner = CliRunner()
    res = runner.invoke(main, ["oui", "refresh", str(tmp_path / "mam.csv")])
    assert res.exit_code == 0, res.output
    assert "2 new prefixes" in res.output
    rows = list(csv.reader(io.StringIO((tmp_path / "data" / "oui" / "registry.csv").read_text())))
    assert rows[0] == ["prefix", "bits", "organization"] and ["70B3D51", "28", "Shanghai Dahua Scale Factory"] in rows
    res = runner.invoke(main, ["oui", "lookup", "02:00:00:00:00:01"])
    assert "locally administered" in res.output
    res = runner.invoke(main, ["oui", "refresh", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2
