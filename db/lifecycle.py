"""The remediation state machine of a finding (DESIGN.md §6), with no database in it.

Keeping the rules here, pure, lets the store, the CLI and the tests share one definition of
which moves are allowed and what each requires, and lets errors say what to do.

    open ──► in_progress ──► remediated
      │           │              │ (seen again by a scan → open)
      ├──► risk_accepted (until --expires; then → open)
      └──► false_positive (with a reason; suppresses the asset × fingerprints it covered)
"""

from __future__ import annotations

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
    """A requested change the state machine refuses; the message says what to do instead."""


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
        raise TransitionError(f"unknown status {change.to!r}; use one of {', '.join(ALL_STATUSES)}")
    if change.to != current and change.to not in _ALLOWED[current]:
        allowed = ", ".join(sorted(_ALLOWED[current]))
        raise TransitionError(f"a {current} finding cannot become {change.to}; allowed: {allowed}")
    if change.to == Status.RISK_ACCEPTED:
        if change.expires is None:
            raise TransitionError("risk acceptance needs --expires DATE (it reopens on that day)")
        if change.expires <= today:
            raise TransitionError(f"--expires {change.expires} is not in the future")
    elif change.expires is not None:
        raise TransitionError("--expires only applies to --status risk_accepted")
    if change.to == Status.FALSE_POSITIVE and not (change.note and change.note.strip()):
        raise TransitionError("a false positive needs --note with the reason (auditors read it)")
