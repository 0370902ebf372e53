"""Property: whatever mix of scans, remediations and expiries happens, each finding's event
trail is an unbroken chain that ends in the finding's status (the audit record is complete)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camaudit.db.lifecycle import ALL_STATUSES, Change, TransitionError
from camaudit.db.store import Store

MACS = ["c0:56:e3:00:00:01", "c0:56:e3:00:00:02"]

step = st.one_of(
    st.tuples(st.just("scan"), st.sets(st.sampled_from(MACS)), st.booleans()),
    st.tuples(st.just("remediate"), st.sampled_from(MACS), st.sampled_from(ALL_STATUSES)),
    st.tuples(st.just("days"), st.integers(1, 40)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_event_trail_is_a_chain_ending_in_the_status(steps, flagged_hikvision, run_scan, clock):
    with tempfile.TemporaryDirectory(prefix="ca-store-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'inv.sqlite3'}", clock=clock)
        for kind, *args in steps:
            if kind == "scan":
                present, complete = args
                run_scan(store, [flagged_hikvision(ip=f"198.18.0.{MACS.index(m) + 10}", mac=m)
                                 for m in sorted(present)],
                         status="complete" if complete else "interrupted")
            elif kind == "remediate":
                mac, status = args
                if not any(a["mac"] == mac for a in store.assets()) or not store.finding_rows():
                    continue
                try:
                    ids = store.resolve(mac)
                    store.remediate(ids, Change(to=status, actor="prop", note="n",
                                                expires=clock.now.date() + timedelta(days=10)
                                                if status == "risk_accepted" else None))
                except TransitionError:
                    pass
            else:
                clock.advance(days=args[0])
                store.expire_risk_acceptances()
        rows = store.finding_rows()
        for row in rows:
            events = store.events(row["finding_id"])
            assert events[0]["from"] is None and events[0]["to"] == "open"
            assert all(b["from"] == a["to"] for a, b in zip(events, events[1:]))
            assert events[-1]["to"] == row["status"]
        active = {r["asset_id"] for r in rows if r["status"] in ("open", "in_progress")}
        assert store.open_flagged_count() == len(active)
        store.close()
