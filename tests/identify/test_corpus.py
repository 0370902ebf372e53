"""Identification measured on the public-example corpus (tests/identify/corpus/, score_corpus.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from score_corpus import FLAGGED, Score, load_corpus, score  # noqa: E402

from scanner.fingerprints.matcher import FingerprintSet  # noqa: E402

RECORDS = load_corpus()


@pytest.fixture(scope="module")
def result(fset: FingerprintSet) -> Score:
    return score(RECORDS, fset)


def test_every_record_names_its_public_source_and_truth() -> None:
    ids = [r["id"] for r in RECORDS]
    assert len(ids) == len(set(ids))
    for rec in RECORDS:
        assert rec["ref"].strip() and rec["signal"] and rec["observations"], rec["id"]
        assert rec["expect"] is None or rec["expect"] in FLAGGED, rec["id"]


def test_corpus_has_positives_for_every_flagged_vendor_and_more_negatives(result: Score) -> None:
    assert set(result.by_vendor) >= FLAGGED
    assert all(result.by_vendor[v].positives for v in FLAGGED)
    assert result.negatives >= result.total.positives
