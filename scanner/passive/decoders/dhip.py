"""Dahua DHIP answers heard on UDP 37810, read by the active probe's parser (`probes.dhip`)."""

from __future__ import annotations

from typing import ClassVar

from camaudit.passive.decoders.base import AnswerDecoder
from camaudit.probes import dhip


class DhipDecoder(AnswerDecoder):
    name: ClassVar[str] = "dhip"
    ports: ClassVar[frozenset[int]] = frozenset({dhip.PORT})
    parse = staticmethod(dhip.observation)
