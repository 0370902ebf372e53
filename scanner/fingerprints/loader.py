"""Load the shipped fingerprint files, vocabulary and OUI layers into one FingerprintSet."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from camaudit.fingerprints.data import data_root
from camaudit.fingerprints.fingerprint import Fingerprint
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.fingerprints.errors import FingerprintError
from camaudit.fingerprints.schema import parse_fingerprint_file
from camaudit.fingerprints.vocabulary import Vocabulary, load_vocabulary
from camaudit.oui import OuiTable, load_layers


def fingerprint_files() -> list[tuple[str, str]]:
    """(display name, text) of the shipped vendor files: vendor files by name, generic.toml
    (vendor-neutral captures such as the ONVIF manufacturer) last."""
    vendors_dir = data_root().joinpath("vendors")
    names = sorted((p.name for p in vendors_dir.iterdir() if p.name.endswith(".toml")),
                   key=lambda n: (n == "generic.toml", n))
    return [(f"fingerprints/vendors/{n}", vendors_dir.joinpath(n).read_text("utf-8")) for n in names]


def build_set(files: Iterable[tuple[str, str]], vocabulary: Vocabulary, oui: OuiTable) -> FingerprintSet:
    fps: list[Fingerprint] = []
    seen: dict[str, Fingerprint] = {}
    for name, text in files:
        for fp in parse_fingerprint_file(text, name, vocabulary):
            if fp.id in seen:
                raise FingerprintError(name, fp.line, f"fingerprint id {fp.id!r} already used at "
                                                      f"{seen[fp.id].file}:{seen[fp.id].line}")
            seen[fp.id] = fp
            fps.append(fp)
    return FingerprintSet(fps, vocabulary, oui)


_LOADING = threading.Lock()  # a prefetch and a caller build the set once, not twice


def load_fingerprints(user_dir: Path | None = None) -> FingerprintSet:
    """The shipped fingerprints, vocabulary and OUI table (plus the user's refreshed OUI
    data from `user_dir`, default the camaudit data dir). Cached: loading is I/O."""
    with _LOADING:
        return _load(user_dir)


def prefetch_fingerprints() -> None:
    """Load the shipped set in a background thread, for a caller that will need it later.

    Building the set (≈ 0.2 s: TOML, regexes, the IEEE OUI list) is pure CPU; a scan spends
    most of its first second waiting for ARP and multicast answers, so loading it then costs
    the scan no wall time. A later `load_fingerprints()` waits for the prefetch to finish.
    """
    threading.Thread(target=load_fingerprints, name="camaudit-fingerprints", daemon=True).start()


@lru_cache(maxsize=4)
def _load(user_dir: Path | None) -> FingerprintSet:
    vocab_text = data_root().joinpath("vocabulary.toml").read_text("utf-8")
    files = fingerprint_files()
    fset = build_set(files, load_vocabulary(vocab_text), load_layers(user_dir))
    digest = hashlib.sha256(vocab_text.encode())
    for name, text in files:
        digest.update(name.encode() + b"\0" + text.encode())
    fset.version = digest.hexdigest()[:12]
    return fset
