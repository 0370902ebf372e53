"""Process exit codes (table in README.md and docs/operations.md), shared by every command so cron wrappers can rely on them."""

from enum import IntEnum


class ExitCode(IntEnum):
    CLEAN = 0      # no open findings of flagged devices (of tier confirmed or probable)
    FLAGGED = 1    # open findings of confirmed or probable flagged devices exist
    USAGE = 2      # bad arguments or configuration
    RUNTIME = 3    # the run failed (database, network setup, ...)
    LOCKED = 75    # another scan holds the lock (EX_TEMPFAIL: try again later)
