"""RTSP answers heard on the RTSP port, as `rtsp` observations with the probe's `data`
(`probes.rtsp.answer_data`): status, headers (`Server`, `WWW-Authenticate` realm), the
`Public` list and an SDP prefix; `method` when the request is in the capture. Players open
with OPTIONS then DESCRIBE, the request a camera answers with its realm, so the first
answers of a connection are read (`messages.MAX_ANSWERS`), not only the first.
"""

from __future__ import annotations

from typing import Any, ClassVar

from camaudit.observation import ProbeStatus
from camaudit.passive.messages import Answer, ExchangeDecoder
from camaudit.probes.rtsp import RtspProbe, answer_data


class RtspStreamDecoder(ExchangeDecoder):
    """The first answers of each RTSP connection."""

    name: ClassVar[str] = "rtsp-stream"
    source: ClassVar[str] = "rtsp"
    ports: ClassVar[frozenset[int]] = RtspProbe.default_ports
    body_without_length: ClassVar[bool] = False

    def data_of(self, answer: Answer) -> tuple[dict[str, Any], ProbeStatus, str | None]:
        data: dict[str, Any] = {"method": answer.request.method} if answer.request else {}
        data.update(answer_data(answer.resp))
        status, error = answer.status, answer.error
        if not answer.resp.protocol.startswith("RTSP"):
            status, error = ProbeStatus.PROTOCOL_ERROR, f"answered {answer.resp.protocol}, not RTSP"
        return data, status, error
