"""HTTP answers heard on the web ports (the HTTP probe's ports), as `http` observations.

The same `data` as the probe (`probes.http.answer_data`): status, headers, title and body
prefix; `path` (and `method` when not GET) only when the request is in the capture, so
fingerprints that depend on the path apply only to answers whose request is known. Answers
over TLS are encrypted and are the `tls-stream` decoder's business (the certificate only).
"""

from __future__ import annotations

from typing import Any, ClassVar

from camaudit.observation import ProbeStatus
from camaudit.passive.messages import Answer, ExchangeDecoder
from camaudit.probes.http import HttpProbe, answer_data


class HttpStreamDecoder(ExchangeDecoder):
    """The first answers of each HTTP connection on the probe's plain-text ports."""

    name: ClassVar[str] = "http-stream"
    source: ClassVar[str] = "http"
    ports: ClassVar[frozenset[int]] = HttpProbe.default_ports
    body_without_length: ClassVar[bool] = True

    def data_of(self, answer: Answer) -> tuple[dict[str, Any], ProbeStatus, str | None]:
        request = answer.request
        data = answer_data(answer.resp, answer.status, request and request.target,
                           request.method if request else "GET")
        return data, answer.status, answer.error
