"""Acknowledging an alarm while the alarm service clears it, on a real PostgreSQL with two sessions:
the clear's transaction holds the alarm when the acknowledgement comes; once it commits, the
acknowledgement finds the alarm no longer raised and answers 409 problem+json, and the alarm stays
cleared (before, the acknowledgement overwrote the clear and reopened the alarm)."""

import threading

from sqlalchemy import func, select, text

from lingtan.store.db import sessions
from lingtan.store.models import Alarm, AuditEntry
from tests.support import wait_for
from tests.support.api import NOW, PARK, make_platform


def _waiting_on_locks(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND datname = current_database()")).scalar_one()


def test_an_acknowledgement_that_loses_to_the_clear_is_409_and_the_alarm_stays_cleared(postgres):
    p = make_platform(postgres.url)
    try:
        with sessions(p.engine).begin() as s:
            alarm = Alarm(park=PARK, rule="gateway_offline", subject="gw-demo", severity="critical", state="raised",
                          since=NOW, raised_at=NOW, flaps=0, message="offline", updated_at=NOW)
            s.add(alarm)
        url = f"/api/v1/parks/{PARK}/alarms/{alarm.id}/ack"

        # the alarm service's pass: the alarm cleared and flushed (its revision and row locked), not committed
        clearing = sessions(p.engine)()
        row = clearing.get(Alarm, alarm.id)
        row.state, row.cleared_at, row.updated_at = "cleared", NOW, NOW
        clearing.flush()
        answers = []
        ack = threading.Thread(target=lambda: answers.append(p.client("all").post(url, json={"note": "在处理"})))
        ack.start()
        wait_for(lambda: _waiting_on_locks(p.engine) >= 1, 10, message="the acknowledgement waiting on the clear")
        clearing.commit()
        clearing.close()
        ack.join(10)

        [r] = answers
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "already cleared" in r.json()["detail"]
        with sessions(p.engine)() as s:
            a = s.get(Alarm, alarm.id)
            assert (a.state, a.acked_by, a.ack_note) == ("cleared", None, None)
            assert s.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == "alarm.acknowledged")) == 0
        again = p.client("all").post(url)  # and later, plainly: cleared is 409 as before
        assert again.status_code == 409
    finally:
        p.engine.dispose()
