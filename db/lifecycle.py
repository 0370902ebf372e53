"""The remediation state machine of a finding, with no database in it.

Keeping the rules here, pure, lets the store, the CLI and the tests share one definition of
which moves are allowed and what each requires, and lets errors say what to do. Manual moves
(`camaudit remediate`) go through `check`; the moves the store makes by itself go through
`on_seen`, `on_missed`, `on_expiry` and `on_rematch`, which return the move to record (new
status and event note) or None, and only ever make a move the manual table allows too.

    open ──► in_progress ──► remediated
      │           │              │ (seen again by a scan → open)
      ├──► risk_accepted (until its expiry date; then → open)
      └──► false_positive (with a reason; suppresses the asset × fingerprints it covered)
"""

from __future__ import annotations

from collections.abc import Collection, Set
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    REMEDIATED = "remediated"
    RISK_ACCEPTED = "risk_accepted"
    FALSE_POSITIVE = "false_positive"


ALL_STATUSES: tuple[str, ...] = tuple(s.value for s in Status)

# Statuses in which the device is still believed present and unresolved: they drive the exit
# code (open flagged findings) and the "flagged assets" count of the burn-down series.
ACTIVE: frozenset[str] = frozenset({Status.OPEN, Status.IN_PROGRESS})

# Statuses whose findings are watched for "not seen since": everything but a false positive,
# because "not seen after remediation" is exactly the evidence an auditor wants.
WATCHED: frozenset[str] = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.REMEDIATED,
                                     Status.RISK_ACCEPTED})

_ALLOWED: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.IN_PROGRESS, Status.REMEDIATED, Status.RISK_ACCEPTED,
                            Status.FALSE_POSITIVE}),
    Status.IN_PROGRESS: frozenset({Status.OPEN, Status.REMEDIATED, Status.RISK_ACCEPTED,
                                   Status.FALSE_POSITIVE}),
    Status.REMEDIATED: frozenset({Status.OPEN, Status.IN_PROGRESS}),
    Status.RISK_ACCEPTED: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.REMEDIATED,
                                     Status.FALSE_POSITIVE}),
    Status.FALSE_POSITIVE: frozenset({Status.OPEN}),
}


class TransitionError(ValueError):
    """A change the state machine refuses. It carries the facts (`current` and `to` statuses,
    `finding_id` once the store knows which finding, and `reason`: unknown_status, not_allowed,
    needs_expires, expires_not_future, expires_without_risk or needs_note), so the command
    line can word what to do in terms of its own options."""

    def __init__(self, reason: str, current: str, to: str, *, expires: date | None = None,
                 finding_id: int | None = None) -> None:
        self.reason, self.current, self.to = reason, current, to
        self.expires, self.finding_id = expires, finding_id
        super().__init__(("" if finding_id is None else f"finding F{finding_id}: ") + self._text())

    def _text(self) -> str:
        if self.reason == "unknown_status":
            return f"unknown status {self.to!r}; one of {', '.join(ALL_STATUSES)}"
        if self.reason == "not_allowed":
            allowed = ", ".join(sorted(_ALLOWED[self.current]))
            return f"a {self.current} finding cannot become {self.to}; allowed: {allowed}"
        return {"needs_expires": "a risk acceptance needs an expiry date (it reopens on that day)",
                "expires_not_future": f"expiry {self.expires} is not in the future",
                "expires_without_risk": f"an expiry date only applies to {Status.RISK_ACCEPTED}",
                "needs_note": "a false positive needs a note with the reason (auditors read it)",
                }[self.reason]

    def of(self, finding_id: int) -> TransitionError:
        """The same refusal, naming the finding it was about."""
        return TransitionError(self.reason, self.current, self.to, expires=self.expires,
                               finding_id=finding_id)


@dataclass(frozen=True, slots=True)
class Change:
    """A manual change request (from `camaudit remediate`)."""

    to: str
    actor: str
    owner: str | None = None
    due: date | None = None
    note: str | None = None
    expires: date | None = None


def check(current: str, change: Change, today: date) -> None:
    """Raise TransitionError unless `change` is allowed from `current`.

    Re-stating the current status is allowed: it updates owner/due/note with an event.
    """
    if change.to not in ALL_STATUSES:
        raise TransitionError("unknown_status", current, change.to)
    if change.to != current and change.to not in _ALLOWED[current]:
        raise TransitionError("not_allowed", current, change.to)
    if change.to == Status.RISK_ACCEPTED:
        if change.expires is None:
            raise TransitionError("needs_expires", current, change.to)
        if change.expires <= today:
            raise TransitionError("expires_not_future", current, change.to, expires=change.expires)
    elif change.expires is not None:
        raise TransitionError("expires_without_risk", current, change.to, expires=change.expires)
    if change.to == Status.FALSE_POSITIVE and not (change.note and change.note.strip()):
        raise TransitionError("needs_note", current, change.to)


@dataclass(frozen=True, slots=True)
class Move:
    """An automatic move to record: the status after it (maybe the same) and the event note."""

    to: str
    note: str


def _move(current: str, to: str, note: str) -> Move:
    """A Move the manual table allows as well: one state machine for both kinds of change."""
    if to != current and to not in _ALLOWED[current]:
        raise TransitionError("not_allowed", current, to)
    return Move(to, note)


def on_seen(current: str, *, seen_by: str, not_seen_since: date | None,
            fingerprints: Set[str], suppressed: Collection[str]) -> Move | None:
    """A flagged device seen again (by a scan, or by rematch) under this finding's policy.

    A remediated device is back: open. A false positive reopens only on evidence its verdict
    did not cover (`fingerprints` beyond `suppressed`). A finding marked not seen since a day
    keeps its status, with an event saying the device is back. Otherwise nothing to record.
    """
    if current == Status.REMEDIATED:
        return _move(current, Status.OPEN, f"seen again in {seen_by}")
    if current == Status.FALSE_POSITIVE and not fingerprints <= set(suppressed):
        extra = ", ".join(sorted(fingerprints - set(suppressed)))
        return _move(current, Status.OPEN, f"new evidence in {seen_by} not covered by the "
                                           f"false-positive verdict: {extra}")
    if not_seen_since is not None:
        return _move(current, current, f"seen again in {seen_by} after not seen since "
                                       f"{not_seen_since.isoformat()}")
    return None


def gone(misses: int, threshold: int) -> bool:
    """Whether an asset missed by `misses` complete scans covering its address counts as gone."""
    return misses >= threshold


def on_missed(current: str, *, misses: int, threshold: int, last_seen: date,
              ip: str | None) -> Move | None:
    """A finding's asset missed by `misses` complete scans covering its address.

    From `threshold` misses on, a watched finding is marked "not seen since" its last sighting
    (its status stays: absence is evidence, not proof, of removal). The caller marks a finding
    once: one already marked is not passed again.
    """
    if current not in WATCHED or not gone(misses, threshold):
        return None
    return _move(current, current, f"not seen since {last_seen.isoformat()}: missed by "
                                   f"{threshold} complete scans covering {ip} "
                                   "(evidence, not proof, of removal)")


def on_expiry(current: str, *, expires: date | None, today: date) -> Move | None:
    """A risk acceptance whose expiry day has come reopens."""
    if current != Status.RISK_ACCEPTED or expires is None or expires > today:
        return None
    return _move(current, Status.OPEN, f"risk acceptance expired on {expires.isoformat()}")


def on_rematch(current: str, *, policy: str, evaluated: Collection[str] | None,
               flagged_under: Collection[str], label: str) -> Move | None:
    """An active finding of `policy` after a rematch re-identified its asset.

    When the policy was judged (`evaluated`; None: every policy) and the new identification
    is no longer flagged under it (`flagged_under`: its policies, empty when not flagged), the
    finding becomes a false positive saying why; otherwise it stays as it is.
    """
    if current not in ACTIVE or (evaluated is not None and policy not in evaluated):
        return None
    if policy in flagged_under:
        return None
    return _move(current, Status.FALSE_POSITIVE, f"no longer flagged under {policy} after {label}")
