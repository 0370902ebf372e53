"""`python -m camaudit.audit`: one audit in a process of its own, settings as JSON on stdin.

For callers that must run the audit somewhere the calling process must not go: the demo
starts it with `ip netns exec` in the lab's scanner namespace, so the whole process —
every thread and socket it will ever have — lives where no route leaves the lab.

stdin: a JSON object of config keys (as the command line would give them, e.g.
`{"targets": [...], "db": URL, "site": NAME}`; the config file and CAMAUDIT_* apply as for
`camaudit scan`). Exit code: 0 clean, 1 flagged (as `camaudit scan`), 2 a setting or target
refused, 3 the audit failed, 75 another scan holds the inventory's lock; the reason is one
line on stderr. Logging as `camaudit scan --quiet`.
"""

from __future__ import annotations

import json
import sys

from camaudit.exitcodes import ExitCode

MAX_SETTINGS_BYTES = 1 << 20


def main() -> int:
    from camaudit.db.store import Store, StoreError
    from camaudit.audit import AuditError, plan_audit, run_audit
    from camaudit.config import ConfigError, load_config
    from camaudit.logs import setup_logging
    from camaudit.policy import PolicyError
    from camaudit.runlock import LockHeld, ScanInterrupted, scan_lock, stop_signals
    from camaudit.targets import TargetError

    try:
        settings = json.loads(sys.stdin.read(MAX_SETTINGS_BYTES))
        if not isinstance(settings, dict):
            raise ValueError("the settings on stdin must be one JSON object")
        config = load_config(settings)
        setup_logging(fmt=config["log_format"], level=config["log_level"], log_file=config["log_file"],
                      quiet=True)
        plan = plan_audit(config)
        url = config.db_url()
        with scan_lock(url), stop_signals(), Store(url) as store:
            return int(run_audit(plan, store).exit_code)
    except (ValueError, ConfigError, TargetError, PolicyError) as exc:  # ValueError: not JSON
        code, message = ExitCode.USAGE, str(exc)
    except LockHeld as exc:
        code, message = ExitCode.LOCKED, str(exc)
    except (AuditError, StoreError, OSError, ScanInterrupted) as exc:
        code, message = ExitCode.RUNTIME, f"scan failed: {exc}"
    print(f"camaudit: {message}", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
