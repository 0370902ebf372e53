"""Identification measured on the public-example corpus (tests/identify/corpus/, score_corpus.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from score_corpus import FLAGGED, Score, load_corpus, score  # noqa: E402

from camaudit.fingerprints.matcher import FingerprintSet  # noqa: E402

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


def test_recall_and_precision_on_public_examples(result: Score) -> None:
    """Flagged devices are found (recall >= 0.98) and nothing else is called flagged
    (precision >= 0.995), each device showing a single banner and no MAC."""
    assert result.total.recall >= 0.98, [(r["id"], r["expect"], r["got"]) for r in result.missed]
    assert result.total.precision >= 0.995, [(r["id"], r["got"]) for r in result.wrong]


def test_no_earlier_recognition_is_lost(result: Score) -> None:
    """corpus/expected.txt lists every device recognised when it was written
    (`python tests/identify/score_corpus.py --write-expected`): a data change may add, never lose."""
    expected = set((Path(__file__).parent / "corpus" / "expected.txt").read_text("utf-8").split())
    assert expected, "corpus/expected.txt is empty"
    lost = expected - set(result.recognised_ids)
    assert not lost, sorted(lost)
