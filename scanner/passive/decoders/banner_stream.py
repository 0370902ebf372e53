"""What servers say first on the raw TCP ports the banner and Telnet probes read.

`banner` (TCP 8000, 37777): the server's first message, as the banner probe records it
(`hex`, `text`, `length`, `probe`), cut where its framing says it ends
(`probes.banner.message_lengths`: the Hikvision SDK greeting, a DVRIP reply) or at the
probe's read cap. `probe` is `null` when the server spoke before the client, `dvrip` when the
client's first bytes were exactly the probe's read-only DVRIP query; a server that answered
some other client request is not a banner and is counted (`client-first`), not recorded.

`telnet` (TCP 23): the text and option requests up to the login prompt, read by the probe's
`TelnetStream` (`banner`, `negotiation`, `length`; no `refused`: nothing was refused by us).
Reading stops at the first prompt, so what a user types after it is never kept.

Both only read connections whose start is in the capture (`needs_start`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.tcp_decoder import StreamDecoder
from camaudit.passive.tcp_flows import Flow
from camaudit.probes._io import text
from camaudit.probes.banner import (BANNER_KEEP_BYTES, BANNER_READ_BYTES, DVRIP_QUERY, BannerProbe,
                                    message_lengths)
from camaudit.probes.telnet import MAX_BYTES, PROMPT, TelnetProbe, TelnetStream

_PROMPT_END = re.compile(rb":[ \t]*")


class BannerStreamDecoder(StreamDecoder):
    """The first message of servers on the SDK ports."""

    name: ClassVar[str] = "banner-stream"
    ports: ClassVar[frozenset[int]] = BannerProbe.default_ports
    server_cap: ClassVar[int] = BANNER_READ_BYTES
    client_cap: ClassVar[int] = len(DVRIP_QUERY) + 1
    needs_start: ClassVar[bool] = True

    def read(self, flow: Flow, final: bool) -> tuple[list[Observation], bool]:
        server, client = flow.server, flow.client
        probe = "null"
        if client.first_ts is not None and server.first_ts is not None and client.first_ts < server.first_ts:
            if client.prefix() != DVRIP_QUERY:
                self.counts["client-first"] += 1
                return [], True
            probe = "dvrip"
        got = server.prefix()
        framed = [n for n in message_lengths(got) if 0 < n <= len(got)]
        if framed:
            got = got[:min(framed)]
        elif not final:
            return [], False
        if not got:
            return [], True
        kept = got[:BANNER_KEEP_BYTES]
        data: dict[str, Any] = {"probe": probe, "hex": kept.hex(), "text": text(kept), "length": len(got)}
        if len(got) >= BANNER_READ_BYTES:
            return [self.observation(flow, "banner", data, ProbeStatus.TOO_LARGE,
                                     "banner longer than the read cap")], True
        return [self.observation(flow, "banner", data)], True


class TelnetStreamDecoder(StreamDecoder):
    """The banner and login prompt of Telnet servers."""

    name: ClassVar[str] = "telnet-stream"
    ports: ClassVar[frozenset[int]] = TelnetProbe.default_ports
    server_cap: ClassVar[int] = MAX_BYTES
    needs_start: ClassVar[bool] = True

    def read(self, flow: Flow, final: bool) -> tuple[list[Observation], bool]:
        got = flow.server.prefix()
        stream = TelnetStream()
        taken = 0
        for end in [m.end() for m in _PROMPT_END.finditer(got)] + [len(got)]:
            stream.feed(got[taken:end])
            taken = end
            if PROMPT.search(stream.text):
                break
        prompt = PROMPT.search(stream.text) is not None
        if not (prompt or final):
            return [], False
        if not stream.text.strip():
            self.counts["no-text"] += 1
            return [], True
        data = {"banner": text(bytes(stream.text)), "negotiation": list(stream.requests), "length": taken}
        if not prompt and taken >= MAX_BYTES:
            return [self.observation(flow, "telnet", data, ProbeStatus.TOO_LARGE,
                                     f"more than {MAX_BYTES} bytes without a login prompt")], True
        return [self.observation(flow, "telnet", data)], True
