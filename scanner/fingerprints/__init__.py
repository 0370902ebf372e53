"""Fingerprint data: vocabulary, schema, loading, matching and verification (scanner.fingerprints.*)."""

from scanner.fingerprints.matcher import *  # noqa: F403
from scanner.fingerprints.matcher import MAX_PLANS, SOURCES, CAPTURE_NAMES  # noqa: F401
