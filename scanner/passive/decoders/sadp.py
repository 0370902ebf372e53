"""Hikvision SADP answers heard on UDP 37020, read by the active probe's parser (`probes.sadp`)."""

from __future__ import annotations

from typing import ClassVar

from camaudit.passive.decoders.base import AnswerDecoder
from camaudit.probes import sadp


class SadpDecoder(AnswerDecoder):
    name: ClassVar[str] = "sadp"
    ports: ClassVar[frozenset[int]] = frozenset({sadp.PORT})
    parse = staticmethod(sadp.observation)
