"""`camaudit listen`: what devices say unasked on one named interface, stored as a scan.

The capture is `camaudit.passive.live` (receive-only: camaudit sends nothing); frames go
through `FrameDecoder`, and the observations take the way a scan's take (`recorded_scan` →
`record_observations` → findings and reports), the row's provenance naming the passive
capture and its interface. SIGINT/SIGTERM and the duration end the capture alike: what was
heard is identified and stored and the row completes — a listen without a duration is meant
to be stopped by a signal.

Besides the decoder's own bounds, each device keeps at most MAX_PER_DEVICE observations per
capture: a device flooding distinct announcements costs its own cap, not the rest.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING

from camaudit import __version__
from camaudit.audit.pipeline import record_observations, recorded_scan
from camaudit.observation import Observation, write_jsonl
from camaudit.passive.decode import DecodeStats, FrameDecoder
from camaudit.passive.live import CaptureCounts, frames, kernel_drops, open_socket
from camaudit.tiers import counts_for_exit

if TYPE_CHECKING:
    from camaudit.config import Config
    from camaudit.db.store import Store
    from camaudit.identify import Identification, Matcher
    from camaudit.policy import PolicySet

MAX_PER_DEVICE = 512                # observations kept per device (mac, else ip) per capture
MAX_DEVICES = 1 << 16
PROGRESS_EVERY = 1.0                # seconds between progress updates
TOOL = f"camaudit {__version__} listen"
ProgressFn = Callable[[int, int, int], None]   # (frames, devices heard, flagged so far)


@dataclass
class ListenResult:
    """What one capture heard and stored."""

    interface: str
    scan_id: int | None = None
    seconds: float = 0.0
    stopped_by: str = "duration"     # or the signal's name
    counts: CaptureCounts = field(default_factory=CaptureCounts)
    stats: DecodeStats = field(default_factory=DecodeStats)
    observations: int = 0
    capped: int = 0                  # observations past a device's cap, not kept
    identifications: list[Identification] = field(default_factory=list)
    open_flagged: int = 0
    reports: list[Path] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(1 for i in self.identifications if i.flagged)

    def summary(self) -> dict[str, object]:
        """The numbers of `camaudit listen --json`."""
        return {"interface": self.interface, "scan_id": self.scan_id, "seconds": round(self.seconds, 3),
                "stopped_by": self.stopped_by, "frames": self.counts.frames, "own_frames": self.counts.outgoing,
                "kernel_drops": self.counts.kernel_drops, "observations": self.observations,
                "capped": self.capped, "devices_heard": len(self.identifications), "flagged": self.flagged,
                "open_flagged": self.open_flagged, "reports": [str(p) for p in self.reports]}


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """Within the block SIGTERM and SIGINT set the event instead of raising (unlike
    `runlock.stop_signals`): the capture ends at its next check and what it heard is still
    stored. The signal's number is kept on the event. Main thread only."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            stop.signum = signum  # type: ignore[attr-defined]
            stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Heard:
    """The capture's observations, capped per device, counted, and shown as progress."""

    def __init__(self, result: ListenResult, progress: ProgressFn | None, policies: PolicySet) -> None:
        self.result, self.progress = result, progress
        self.per_device: dict[str, int] = {}
        self.matcher: Matcher | None = None
        self.shown = time.monotonic()
        if progress is not None:     # a second matcher, only for the TTY's "flagged so far"
            from camaudit.identify import Matcher
            self.matcher = Matcher(policies=policies)

    def kept(self, found: Iterable[Observation]) -> Iterator[Observation]:
        result = self.result
        for obs in found:
            key = obs.mac or obs.ip or ""
            count = self.per_device.get(key, 0)
            if count >= MAX_PER_DEVICE or not count and len(self.per_device) >= MAX_DEVICES:
                result.capped += 1
                continue
            self.per_device[key] = count + 1
            result.observations += 1
            if self.matcher is not None:
                self.matcher.add(obs)
            yield obs

    def show(self, force: bool = False) -> None:
        if self.progress is None or self.matcher is None:
            return
        if not force and time.monotonic() - self.shown < PROGRESS_EVERY:
            return
        self.shown = time.monotonic()
        idents = list(self.matcher.identifications())
        self.progress(self.result.counts.frames, len(idents), sum(1 for i in idents if i.flagged))


def listen(store: Store | None, config: Config, interface: str, policies: PolicySet, *,
           duration: float | None = None, promiscuous: bool = False, observations_out: IO[str] | None = None,
           progress: ProgressFn | None = None, warn: Callable[[Iterable[str]], None] = lambda messages: None,
           ) -> ListenResult:
    """Capture on `interface` until `duration` seconds pass or SIGINT/SIGTERM arrives, then
    identify and store what was heard as one scan (`store` None: identify only).

    Raises ListenError before any row is opened when the capture cannot start; store errors
    and OSError (a configured report that cannot be written) pass through.
    """
    from camaudit.db.record import ScanSource

    result = ListenResult(interface)
    sock = open_socket(interface, promiscuous=promiscuous)   # before the row: a refusal stores nothing
    with sock, stop_requests() as stop, recorded_scan(store, config, [], policies) as rec:
        result.scan_id = rec.scan_id
        started, since = time.monotonic(), datetime.now(timezone.utc)
        decoder = FrameDecoder()
        result.stats = decoder.stats
        heard = _Heard(result, progress, policies)
        deadline = None if duration is None else started + duration

        def observations() -> Iterator[Observation]:
            for ts, frame, linktype in frames(sock, result.counts, deadline, stop, heard.show):
                yield from heard.kept(decoder.feed(ts, frame, linktype))
                heard.show()
            yield from heard.kept(decoder.finish())
            if stop.is_set():
                result.stopped_by = signal.Signals(getattr(stop, "signum", signal.SIGTERM)).name
            result.counts.kernel_drops = kernel_drops(sock)
            heard.show(force=True)

        stream: Iterator[Observation] = observations()
        if observations_out is not None:
            stream = _written(stream, observations_out)
        result.identifications = record_observations(store, rec.scan_id, stream, policies, covered=[], warn=warn)
        result.seconds = time.monotonic() - started
        if store is not None and rec.scan_id is not None:
            store.set_source(rec.scan_id, ScanSource(
                file=f"passive capture on interface {interface}", sha256=None, tool=TOOL,
                observed_from=since, observed_to=datetime.now(timezone.utc)))
    result.open_flagged = (sum(1 for i in result.identifications if i.flagged and counts_for_exit(i.tier))
                           if rec.open_flagged is None else rec.open_flagged)
    result.reports = rec.reports
    return result


def _written(observations: Iterator[Observation], out: IO[str]) -> Iterator[Observation]:
    for obs in observations:
        write_jsonl([obs], out, TOOL)
        yield obs
