"""The alarm routes are scoped and park-authorised like every route, on SQLite and on a real
PostgreSQL (migrated by Alembic to 0007): read sees, write acknowledges, another park's key sees
nothing, and the history syncs by cursor."""

from sqlalchemy import select

from lingtan.alarms.service import AlarmService
from lingtan.kernel.config import Alarms
from lingtan.store.db import sessions, upsert
from lingtan.store.models import AuditEntry, GatewayStatus
from tests.support.alarms import only
from tests.support.api import NOW, PARK


def test_alarm_routes_are_scoped_and_park_authorised(platform):
    config = platform.config.model_copy(update={"alarms": Alarms(rules=only("gateway_offline"))})
    svc = AlarmService(config, platform.engine, lambda: platform.clock[0], listen=False)
    with sessions(platform.engine)() as s:
        upsert(s, GatewayStatus, [{"park": PARK, "gateway": "gw-demo", "state": "offline", "ts": NOW, "spooled": 0,
                                   "received_at": NOW}], ["state"])
        s.commit()
    [ev] = svc.run_once()
    url = f"/api/v1/parks/{PARK}/alarms"

    assert platform.client().get(url).status_code == 401
    assert platform.client("other").get(url).status_code == 404  # not its park: as if it did not exist
    page = platform.client("read").get(url).json()
    assert [(a["id"], a["rule"], a["subject"], a["state"]) for a in page["active"]] == \
        [(ev.alarm.id, "gateway_offline", "gw-demo", "raised")]
    assert [a["id"] for a in page["items"]] == [ev.alarm.id]
    assert platform.client("read").post(f"{url}/{ev.alarm.id}/ack").status_code == 403  # needs write
    assert platform.client("other").post(f"{url}/{ev.alarm.id}/ack").status_code == 404
    assert platform.client("read").get(url, params={"cursor": "nonsense"}).status_code == 422

    r = platform.client("all").post(f"{url}/{ev.alarm.id}/ack", json={"note": "已联系现场"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    again = platform.client("all").post(f"{url}/{ev.alarm.id}/ack", json={"note": "second"})
    assert again.json()["note"] == "已联系现场"  # the first acknowledgement stands
    synced = platform.client("read").get(url, params={"cursor": page["next_cursor"]}).json()
    assert [(a["id"], a["state"]) for a in synced["items"]] == [(ev.alarm.id, "acknowledged")]
    with sessions(platform.engine)() as s:
        acks = s.scalars(select(AuditEntry).where(AuditEntry.action == "alarm.acknowledged")).all()
        assert [(a.target, a.after["note"]) for a in acks] == [(f"alarm/{ev.alarm.id}", "已联系现场")]
