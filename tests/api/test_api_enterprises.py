"""Enterprise routes on a real database (SQLite and PostgreSQL): ranking, figures, time-of-use, entered data.

The platform's intervals are constant per quarter hour (tests/support/api.py, PER_QUARTER), so the
figures of one full local day are worked by hand: ent-a 50 kWh, ent-b 45 kWh + 12 m3 gas, ent-c
30 kWh + 8 m3 gas per quarter hour; the park imports 100 kWh from the grid and its PV delivers 40.
"""

import re

import pytest
import yaml

from lingtan.api.auth import Scope, create_key
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import ApiKey, AuditEntry
from tests.support.api import NOW, PARK

DAY = "2026-06-14"  # a full local day of intervals before NOW
Q = 96  # quarter hours in the day


def test_ranking_adds_up_to_the_park(platform):
    c = platform.client("read")
    r = c.get(f"/api/v1/parks/{PARK}/enterprise-ranking", params={"first": DAY, "last": DAY})
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {e["id"]: e for e in body["enterprises"]}
    assert {k: v["electricity_kwh"] for k, v in rows.items()} == {"ent-a": 50 * Q, "ent-b": 45 * Q, "ent-c": 30 * Q}
    # consumption 100 + 40 = 140 kWh a quarter hour (storage losses included), the enterprises 125
    assert body["unallocated"]["electricity_kwh"] == pytest.approx(15 * Q)
    # 等价值 0.300 kgce/kWh and gas 1.3300 kgce/m3: ent-b 45 x 0.3 / 1000 + 12 x 1.33 / 1000 per quarter hour
    assert rows["ent-b"]["energy_tce"] == pytest.approx((45 * 0.3 + 12 * 1.33) / 1000 * Q)
    assert rows["ent-a"]["energy_tce"] == pytest.approx(50 * 0.3 / 1000 * Q)
    assert [e["id"] for e in body["enterprises"]] == ["ent-b", "ent-c", "ent-a"]  # by energy, largest first
    assert [e["rank"] for e in body["enterprises"]] == [1, 2, 3]
    total = sum(e["energy_tce"] for e in body["enterprises"]) + body["unallocated"]["energy_tce"]
    assert total == pytest.approx(body["park_energy_tce"])
    co2 = sum(e["co2_t"] for e in body["enterprises"]) + body["unallocated"]["co2_t"]
    assert co2 == pytest.approx(body["park_co2_t"])
    # the park figure by hand: 140 kWh x 0.300 + 20 m3 gas x 1.33 + 1.5 GJ steam x 34.12 kgce per quarter hour
    assert body["park_energy_tce"] == pytest.approx((140 * 0.3 + 20 * 1.33 + 1.5 * 34.12) / 1000 * Q)
    # the park's consumption (grid import + PV delivered, 140 kWh a quarter hour) by Jiangsu's June periods
    assert body["park_tou_kwh"] == {"sharp": 0, "peak": 140 * 32, "flat": 140 * 32, "valley": 140 * 32,
                                    "outside": 0}
    by_co2 = c.get(f"/api/v1/parks/{PARK}/enterprise-ranking", params={"first": DAY, "by": "co2"}).json()
    assert [e["co2_t"] for e in by_co2["enterprises"]] == sorted((e["co2_t"] for e in by_co2["enterprises"]),
                                                                  reverse=True)


def test_entered_enterprise_data_gives_intensity_and_is_audited(platform):
    w = platform.client("write")
    body = {"electricity": {"certificates_mwh": 1}, "enterprises": {
        "ent-a": {"value_added_wan_yuan": 36500, "certificates_mwh": 1, "output": [
            {"product": "housings", "quantity": 365000, "unit": "pieces"}]},
        "ent-c": {"key_energy_user": True}}}
    r = w.put(f"/api/v1/parks/{PARK}/activity/2026", json=body)
    assert r.status_code == 200, r.text
    with sessions(platform.engine)() as s:
        audit = [a for a in s.query(AuditEntry).all() if a.action == "activity.put"]
    assert any(ch["path"] == "enterprises.ent-a.value_added_wan_yuan" for a in audit for ch in a.changes)
    f = w.get(f"/api/v1/parks/{PARK}/enterprises/ent-a/figures", params={"first": DAY}).json()
    assert f["activity_share"] == pytest.approx(1 / 365)
    fig = f["figures"]
    assert fig["value_added_wan_yuan"] == pytest.approx(100)  # 36,500 a year, one day of it
    assert fig["energy_tce_per_wan_yuan"] == pytest.approx(50 * 0.3 / 1000 * Q / 100)
    assert fig["per_output"]["housings"]["quantity"] == pytest.approx(1000)
    assert fig["electricity"]["own_certificate_kwh"] == pytest.approx(1000)  # its own GECs, attributed to it
    ranking = w.get(f"/api/v1/parks/{PARK}/enterprise-ranking", params={"first": DAY, "by": "intensity"}).json()
    assert ranking["enterprises"][0]["id"] == "ent-a"  # the only one with value added
    assert {e["id"]: e["key_energy_user"] for e in ranking["enterprises"]}["ent-c"] is True  # declared
    # the entered data give no names: the enterprises keep the park's
    assert {e["id"]: e["name"] for e in ranking["enterprises"]} == {"ent-a": "甲精密制造 (Precision manufacturing)",
                                                                     "ent-b": "乙新材料 (New materials)",
                                                                     "ent-c": "丙食品 (Food processing)"}
    assert f["figures"]["name"] == "甲精密制造 (Precision manufacturing)"
    # more own certificates than the park retired: refused, naming the field
    bad = dict(body, electricity={"certificates_mwh": 0.5})
    assert w.put(f"/api/v1/parks/{PARK}/activity/2026", json=bad).status_code == 200  # stored (entry is per year)
    r = w.get(f"/api/v1/parks/{PARK}/enterprises/ent-a/figures", params={"first": DAY})
    assert r.status_code == 422 and "enterprises.ent-a.certificates_mwh = 1.000" in r.json()["detail"]


def test_figures_split_electricity_by_time_of_use(platform):
    c = platform.client("read")
    r = c.get(f"/api/v1/parks/{PARK}/enterprises/ent-b/figures", params={"first": DAY, "last": DAY})
    assert r.status_code == 200, r.text
    f = r.json()
    # June in Jiangsu's shipped calendar: 32 quarter hours each of 谷, 峰 and 平, no 尖峰
    assert f["tou_kwh"] == {"sharp": 0, "peak": 45 * 32, "flat": 45 * 32, "valley": 45 * 32, "outside": 0}
    assert f["tou_calendar"]["id"] == "jiangsu" and f["tou_calendar"]["status"] == "U"
    assert f["figures"]["fuels"] == {"natural_gas_m3": 12 * Q}
    assert f["figures"]["key_user"]["threshold_tce"] == 5000


@pytest.mark.parametrize(("query", "status", "fragment"), [
    ({"first": "2025-12-31", "last": "2026-01-01"}, 422, "within one calendar year"),
    ({"first": DAY, "tou": "mars"}, 422, "tou = 'mars'"),
    ({"first": DAY, "last": "2026-06-01"}, 422, "must not be before first"),
])
def test_bad_queries_name_the_parameter(platform, query, status, fragment):
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/enterprises/ent-a/figures", params=query)
    assert r.status_code == status and fragment in r.json()["detail"], r.text


def test_unknown_enterprise_is_404(platform):
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/enterprises/ent-z/figures", params={"first": DAY})
    assert r.status_code == 404 and r.json()["detail"] == f"enterprise_id = 'ent-z': no enterprise of park {PARK!r}"


def test_enterprise_binding_needs_one_park(tmp_path):
    from lingtan.api.auth import AuthError
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    with sessions(engine).begin() as s:
        with pytest.raises(AuthError, match="exactly one --park"):
            create_key(s, parks=None, scopes=[Scope.READ], name="x", now=NOW, enterprises=["ent-a"])
        row, _ = create_key(s, parks=[PARK], scopes=[Scope.READ], name="x", now=NOW, enterprises=["ent-b", "ent-a"])
        assert row.enterprises == "ent-a,ent-b"
    engine.dispose()


def test_cli_binds_keys_and_users_to_enterprises(tmp_path, capsys, monkeypatch):
    from lingtan.cli.configfile import demo_config_text
    from lingtan.cli.main import main
    data = yaml.safe_load(demo_config_text())
    data["store"]["url"] = f"sqlite:///{tmp_path / 'cli.db'}"
    data["api"] = {"port": 8000}
    cfg = tmp_path / "platform.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    engine = make_engine(data["store"]["url"])  # the platform's database, migrated to 0008
    assert main(["keys", "create", "--config", str(cfg), "--park", PARK, "--enterprise", "ent-a",
                 "--enterprise", "ent-c", "--scope", "read"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert re.fullmatch(r"lt_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key) and "enterprises ent-a,ent-c" in out.err
    with sessions(engine)() as s:
        assert s.get(ApiKey, key.split("_")[1]).enterprises == "ent-a,ent-c"
    assert main(["keys", "list", "--config", str(cfg)]) == 0
    assert "ent-a,ent-c" in capsys.readouterr().out
    assert main(["keys", "create", "--config", str(cfg), "--park", PARK, "--enterprise", "nope", "--scope",
                 "read"]) == 2
    assert "--enterprise 'nope': not an enterprise of park 'demo-park'" in capsys.readouterr().err
    assert main(["keys", "create", "--config", str(cfg), "--all-parks", "--enterprise", "ent-a", "--scope",
                 "read"]) == 2
    assert "exactly one --park" in capsys.readouterr().err
    monkeypatch.setenv("LT_PW", "a long enough password")
    assert main(["users", "create", "--config", str(cfg), "tenant", "--park", PARK, "--enterprise", "ent-b",
                 "--scope", "read", "--password-env", "LT_PW"]) == 0
    from lingtan.store.models import User
    with sessions(engine)() as s:
        assert s.get(User, "tenant").enterprises == "ent-b"
    engine.dispose()



def _tenant(platform, enterprise: str = "ent-b"):
    """A client with a read key bound to one enterprise of PARK."""
    with sessions(platform.engine).begin() as s:
        _, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="tenant", now=NOW, enterprises=[enterprise])
    client = platform.client()
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def test_an_enterprise_credential_gets_its_park_with_only_its_enterprise(platform):
    c = _tenant(platform)
    me = c.get("/api/v1/session").json()
    assert me["enterprises"] == ["ent-b"] and me["parks"] == [PARK]
    assert platform.client("read").get("/api/v1/session").json()["enterprises"] is None
    parks = c.get("/api/v1/parks")
    assert parks.status_code == 200, parks.text
    assert [p["id"] for p in parks.json()] == [PARK]
    park = c.get(f"/api/v1/parks/{PARK}")
    assert park.status_code == 200 and park.json() == parks.json()[0]
    body = park.json()
    # its own enterprise and its meters only: no other tenant's name, no park-wide count
    assert body["enterprises"] == [{"id": "ent-b", "name": "乙新材料 (New materials)", "industry": "materials"}]
    assert body["meter_count"] == 2  # ent-b-main and gas-ent-b
    assert "ent-a" not in park.text and "ent-c" not in park.text
    full = platform.client("read").get(f"/api/v1/parks/{PARK}").json()
    assert [e["id"] for e in full["enterprises"]] == ["ent-a", "ent-b", "ent-c"] and full["meter_count"] == 10
    # another park answers exactly as a park that does not exist
    other, missing = c.get("/api/v1/parks/other-park"), c.get("/api/v1/parks/no-such-park")
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"] == missing.json()["detail"].replace("no-such-park", "other-park")


def test_an_enterprise_credential_exports_its_own_series_only(platform):
    c = _tenant(platform)
    query = {"scope": "enterprise", "id": "ent-b", "step": "day", "first": DAY, "last": DAY}
    mine = c.get(f"/api/v1/parks/{PARK}/exports/series", params=query)
    assert mine.status_code == 200, mine.text
    park_level = platform.client("read").get(f"/api/v1/parks/{PARK}/exports/series", params=query)
    assert mine.content == park_level.content  # the same table as a park-level credential gets
    rows = mine.content.decode("utf-8-sig").splitlines()
    assert len(rows) == 2 and str(45 * Q) in rows[1].replace(".0", "")  # 45 kWh a quarter hour
    assert c.get(f"/api/v1/parks/{PARK}/series", params=query).json()["points"][0]["values"][
        "energy_import_kwh"] == 45 * Q
    # another enterprise exactly as one that does not exist; the park's own series as no such park
    other = c.get(f"/api/v1/parks/{PARK}/exports/series", params={**query, "id": "ent-a"})
    unknown = c.get(f"/api/v1/parks/{PARK}/exports/series", params={**query, "id": "ent-zz"})
    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"] == unknown.json()["detail"].replace("ent-zz", "ent-a")
    for params in ({**query, "scope": "park", "id": None}, {**query, "scope": "meter", "id": "ent-b-main"}, {}):
        r = c.get(f"/api/v1/parks/{PARK}/exports/series", params={k: v for k, v in params.items() if v})
        assert r.status_code == 404 and r.json()["detail"] == f"park_id = {PARK!r}: no such park", (params, r.text)
    assert c.get("/api/v1/parks/other-park/exports/series", params=query).status_code == 404


def test_the_enterprise_list_counts_the_meters_the_accounting_counts(tmp_path):
    """A line meter of ent-a below a workshop feeder (no enterprise of its own) below ent-a's main
    meter: the accounting counts the main meter only; the old rule (skip a meter whose direct parent
    is the enterprise's) counted the line meter as well, and left the feeder out of the list."""
    from datetime import timedelta

    from lingtan.accounting.service import update_aggregates
    from lingtan.api.app import create_app
    from lingtan.store.models import IntervalEnergy
    from tests.support.api import TODAY, ZONE, feed_latest, local_midnight_utc, two_park_config, write_intervals

    config = two_park_config(f"sqlite:///{tmp_path / 'platform.db'}")
    park = config.parks[0]
    extra = [park.meters[3].model_copy(update={"id": "ent-a-ws", "name": "甲 车间馈线", "enterprise": None,
                                               "parent": "ent-a-main", "role": "load"}),
             park.meters[3].model_copy(update={"id": "ent-a-line", "name": "甲 产线", "parent": "ent-a-ws"})]
    assert park.meters[3].id == "ent-a-main"
    park = park.model_copy(update={"meters": [*park.meters, *extra]})
    config = config.model_copy(update={"parks": [park, *config.parks[1:]]})
    engine = make_engine(config.store.url)
    start = local_midnight_utc(TODAY)
    write_intervals(engine, PARK, start, NOW)
    feed_latest(config, engine, PARK, NOW - timedelta(seconds=5))
    with sessions(engine).begin() as s:  # the sub-meters: 20 and 12 kWh a quarter hour
        t, rows = start, []
        while t < NOW:
            rows += [IntervalEnergy(park=PARK, meter=m, quantity="energy_import_kwh", start=t, day=TODAY, amount=a,
                                    completeness=1.0, estimated=False, flags="", updated_at=NOW)
                     for m, a in (("ent-a-ws", 20.0), ("ent-a-line", 12.0))]
            t += timedelta(minutes=15)
        s.add_all(rows)
        for m in ("ent-a-ws", "ent-a-line"):
            update_aggregates(s, PARK, ZONE, m, "energy_import_kwh", {TODAY})
        _, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="r", now=NOW)
    from fastapi.testclient import TestClient
    c = TestClient(create_app(config, engine, clock=lambda: NOW), headers={"Authorization": f"Bearer {key}"})
    quarters = (NOW - start) // timedelta(minutes=15)
    a = c.get(f"/api/v1/parks/{PARK}/enterprises/ent-a")
    assert a.status_code == 200, a.text
    figures = c.get(f"/api/v1/parks/{PARK}/enterprises/ent-a/figures", params={"first": str(TODAY)}).json()
    assert figures["figures"]["electricity_kwh"] == pytest.approx(50 * quarters)
    assert a.json()["today"] == {"energy_import_kwh": pytest.approx(50 * quarters)}  # not + 12 of the line
    assert a.json()["meters"] == ["ent-a-main", "ent-a-ws", "ent-a-line"]
    engine.dispose()
