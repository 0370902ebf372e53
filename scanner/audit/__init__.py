"""The audit as a library: what `camaudit scan` and `camaudit demo` run (see `pipeline`).

`plan_audit(config)` → `run_audit(plan, store)` → `AuditResult`; observations that did not
come from the engine enter through `recorded_scan` + `record_observations`.
"""

from __future__ import annotations

from camaudit.audit.pipeline import (
    AuditError,
    AuditPlan,
    AuditResult,
    Recording,
    audit_targets,
    plan_audit,
    record_observations,
    recorded_scan,
    run_audit,
    write_reports,
)

__all__ = ["AuditError", "AuditPlan", "AuditResult", "Recording", "audit_targets", "plan_audit",
           "record_observations", "recorded_scan", "run_audit", "write_reports"]
