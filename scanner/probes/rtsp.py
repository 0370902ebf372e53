"""RTSP probe: OPTIONS and DESCRIBE of the root URL, without credentials.

The answers carry vendor signals without any login: `Server: Dahua Rtsp Server`, a 401
with `WWW-Authenticate: Digest realm="Hikvision"` or `Basic realm="device"`, the `Public`
method list. DESCRIBE is the request that triggers the 401 on most cameras; a 200 gives a
short SDP whose session name can also tell the vendor.
"""

from __future__ import annotations

from typing import Any, ClassVar

from camaudit.addresses import authority
from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import exchange, text
from camaudit.probes.base import HostProbe, ProbeContext
from camaudit.probes.http import USER_AGENT

SDP_KEEP_CHARS = 4096
METHODS = ("OPTIONS", "DESCRIBE")


def request_bytes(method: str, url: str, cseq: int) -> bytes:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}"]
    if method == "DESCRIBE":
        lines.append("Accept: application/sdp")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


class RtspProbe(HostProbe):
    """OPTIONS then DESCRIBE on RTSP ports; one observation per answered method."""

    name: ClassVar[str] = "rtsp"
    default_ports: ClassVar[frozenset[int]] = frozenset({554})

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        url = f"rtsp://{authority(host.ip, port)}/"
        out: list[Observation] = []
        for cseq, method in enumerate(METHODS, 1):
            resp, status, error = await exchange(ctx, host.ip, port, request_bytes(method, url, cseq),
                                                 body_without_length=False)
            data: dict[str, Any] = {"method": method}
            if resp.status:
                data.update(status=resp.status, headers=resp.headers)
                if not resp.protocol.startswith("RTSP"):
                    status, error = ProbeStatus.PROTOCOL_ERROR, f"answered {resp.protocol}, not RTSP"
                public = resp.header("Public")
                if public:
                    data["public"] = [m.strip() for m in public.split(",") if m.strip()]
                if resp.body:
                    data["body"] = text(resp.body)[:SDP_KEEP_CHARS]
            out.append(Observation(source=self.name, ip=host.ip, mac=host.mac, port=port, data=data,
                                   status=status, error=error and f"{url} {method}: {error}"))
            if not resp.status:
                break  # a device that did not answer OPTIONS gets no DESCRIBE
        return out
