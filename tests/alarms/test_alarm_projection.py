"""The off-track rule: a park's year-end projection of carbon per energy crosses its target once
activity data is entered through the API (real SQLite platform database, the real core).

The park: one grid meter, 2 500 MWh a day from 1 January to 14 June 2026, fully measured
(≈ 270 000 tce a year, so annex 3's tier applies: ≤ 0.2 tCO2/tce). With the year-to-date
certificates plus the planned ones covering the projected year the indicator is met; when the
planned purchase is cancelled (entered as activity data), the projection is far above 0.2.
"""

import calendar
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient

from lingtan.alarms.service import AlarmService
from lingtan.api.app import create_app
from lingtan.store.db import make_engine, sessions, upsert
from lingtan.store.models import DailyEnergy, MonthlyEnergy
from tests.support.alarms import ManualClock, only
from tests.support.configs import config_of, meter, platform, sqlite_url

KWH_PER_DAY = 2_500_000.0
NOW = datetime(2026, 6, 14, 16, 0, tzinfo=UTC)  # midnight starting 15 June in Asia/Shanghai


def test_projection_crossing_the_target_after_entered_activity_data_raises_off_track(tmp_path):
    data = platform([meter("grid", "bus-1", 1, role="grid")], [{"id": "bus-1"}], store=sqlite_url(tmp_path),
                    alarms={"rules": only("projection_off_track")}, api={"demo_open": True})
    config = config_of(data)
    engine = make_engine(config.store.url)
    q = "energy_import_kwh"
    with sessions(engine)() as s:
        days = {m: calendar.monthrange(2026, m)[1] for m in range(1, 6)}
        upsert(s, MonthlyEnergy, [{"park": "gw-park", "meter": "grid", "quantity": q, "month": date(2026, m, 1),
                                   "amount": KWH_PER_DAY * n, "completeness_sum": 96.0 * n, "intervals": 96 * n}
                                  for m, n in days.items()], ["amount"])
        upsert(s, DailyEnergy, [{"park": "gw-park", "meter": "grid", "quantity": q, "day": date(2026, 6, d),
                                 "amount": KWH_PER_DAY, "completeness_sum": 96.0, "intervals": 96}
                                for d in range(1, 15)], ["amount"])
        s.commit()
    clock = ManualClock(NOW)
    svc = AlarmService(config, engine, clock, listen=False)
    ytd_mwh = KWH_PER_DAY * 165 / 1000  # 1 January .. 14 June
    with TestClient(create_app(config, engine, clock)) as api:
        r = api.put("/api/v1/parks/gw-park/activity/2026",
                    json={"electricity": {"certificates_mwh": ytd_mwh, "certificates_planned_mwh": 550_000}})
        assert r.status_code == 200, r.text
        assert svc.run_once() == []  # covered: on track

        r = api.put("/api/v1/parks/gw-park/activity/2026", headers={"If-Match": str(r.json()["version"])},
                    json={"electricity": {"certificates_mwh": ytd_mwh, "certificates_planned_mwh": 0}})
        assert r.status_code == 200, r.text
        [ev] = svc.run_once()
        assert (ev.kind, ev.alarm.rule, ev.alarm.subject, ev.alarm.severity) == \
            ("raised", "projection_off_track", "gw-park", "critical")
        assert ev.alarm.value > 0.2 and "target <= 0.2" in ev.alarm.message
        page = api.get("/api/v1/parks/gw-park/alarms").json()
        assert [a["rule"] for a in page["active"]] == ["projection_off_track"]
