"""SSH identification lines heard on the SSH port, as `ssh` observations with the probe's `data`.

The server's identification line (RFC 4253 §4.2) is read by the probe's own
`read_identification` from the start of the server's stream, so `identification`,
`softwareversion`, `pre_lines`… are what a live scan records; `length` is the bytes up to
and including the line. `sent_identification` (whether the probe had to speak first) has no
passive meaning and is left out. Only connections whose handshake is in the capture are read:
in the middle of a session the server's bytes are encrypted packets, not a banner.
"""

from __future__ import annotations

from typing import Any, ClassVar

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.tcp_decoder import StreamDecoder, byte_stream, run_now
from camaudit.passive.tcp_flows import Flow
from camaudit.probes._io import ProbeFailure
from camaudit.probes.ssh import MAX_TOTAL, SshProbe, parse_identification, read_identification


class SshStreamDecoder(StreamDecoder):
    """The identification line of each SSH server connection seen from its start."""

    name: ClassVar[str] = "ssh-stream"
    ports: ClassVar[frozenset[int]] = SshProbe.default_ports
    server_cap: ClassVar[int] = MAX_TOTAL
    needs_start: ClassVar[bool] = True

    def read(self, flow: Flow, final: bool) -> tuple[list[Observation], bool]:
        prefix = flow.server.prefix()
        stream = byte_stream(prefix, MAX_TOTAL)
        data: dict[str, Any] = {}
        try:
            line = run_now(read_identification(stream, data))
        except ProbeFailure as exc:
            if stream.eof and not final:
                return [], False          # the line is still arriving
            if "identification" not in data:
                self.counts["not-ssh"] += 1
                return [], True
            data["length"] = len(prefix)
            return [self.observation(flow, "ssh", data, exc.status, str(exc))], True
        data["identification"] = line
        data.update(parse_identification(line))
        data["length"] = stream.taken - stream.buffered
        return [self.observation(flow, "ssh", data, ProbeStatus.OK)], True
