"""Year on year and against the declared base year, on SQLite and PostgreSQL: the enterprise ranking,
one enterprise's figures and the park's series of the same days a year earlier.

The data (tests/support/multiyear.py): DAY with the API tests' constant intervals (ent-a 50 kWh,
ent-b 45 kWh + 12 m3 gas a quarter hour; the park imports 100 kWh and its PV delivers 40), the same
date in 2025 at 0.8 of that and in the base year 2024 at 0.5. Every flow scales alike, so every
figure changes by 1 / 0.8 - 1 = +25 % against 2025 and by +100 % against 2024. Worked by hand:
ent-a in 2025 used 40 kWh x 96 = 3,840 kWh, 3,840 x 0.300 kgce = 1.152 tce; its CO2 is its share
of the park's fossil grid power, 100 of the 140 kWh consumed at 0.8325 kg/kWh.
"""

import pytest

from lingtan.api.auth import Scope, create_key
from lingtan.store.db import sessions
from tests.support.api import NOW, OTHER, PARK
from tests.support.multiyear import BASE_YEAR, DAY, multiyear_platform
from tests.support.postgres import Postgres

Q = 96


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def platform(request, tmp_path_factory):
    """One platform per database for the whole module (the data is only read)."""
    server = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('multiyear') / 'platform.db'}"
    else:
        server = Postgres(template=request.getfixturevalue("_postgres_template"))
        server.start()
        url = server.url
    p = multiyear_platform(url)
    yield p
    p.engine.dispose()
    if server is not None:
        server.remove()


def ranking(platform, **params):
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/enterprise-ranking", params={"first": DAY, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_ranking_year_on_year(platform):
    body = ranking(platform)
    assert body["compare"]["basis"] == "previous_year" and body["compare"]["year"] == 2025
    assert (body["compare"]["first"], body["compare"]["last"]) == ("2025-06-14", "2025-06-14")
    rows = {e["id"]: e for e in body["enterprises"]}
    a = rows["ent-a"]["previous"]
    assert a["electricity_kwh"] == pytest.approx(40 * Q)
    assert a["energy_tce"] == pytest.approx(1.152)
    assert a["co2_t"] == pytest.approx(40 * Q * 100 / 140 * 0.8325 / 1000)
    for row in (*rows.values(), body["unallocated"]):
        assert row["previous"]["energy_change"] == pytest.approx(0.25), row
        assert row["previous"]["co2_change"] == pytest.approx(0.25), row
    assert rows["ent-b"]["co2_t_per_tce"] == pytest.approx(rows["ent-b"]["co2_t"] / rows["ent-b"]["energy_tce"])
    assert body["unallocated"]["previous"]["electricity_kwh"] == pytest.approx(15 * Q * 0.8)  # public use, losses
    assert body["compare"]["park_energy_tce"] == pytest.approx(body["park_energy_tce"] * 0.8)
    assert body["compare"]["energy_change"] == pytest.approx(0.25)
    assert body["compare"]["co2_change"] == pytest.approx(0.25)


def test_ranking_against_the_base_year(platform):
    body = ranking(platform, compare="base_year", by="co2")
    assert body["compare"]["year"] == BASE_YEAR and body["compare"]["first"] == "2024-06-14"
    rows = {e["id"]: e for e in body["enterprises"]}
    assert rows["ent-a"]["previous"]["electricity_kwh"] == pytest.approx(25 * Q)
    assert rows["ent-a"]["previous"]["energy_change"] == pytest.approx(1.0)
    assert body["compare"]["co2_change"] == pytest.approx(1.0)


def test_a_year_without_data_has_no_change(platform):
    """A compared span without data is missing (null, completeness 0), never 0; a measured one
    carries its completeness."""
    body = ranking(platform, first="2026-06-13", last="2026-06-13")  # nothing on 2025-06-13
    cmp = body["compare"]
    assert (cmp["park_energy_tce"], cmp["park_co2_t"], cmp["energy_change"], cmp["completeness"]) == (
        None, None, None, 0.0)
    nothing = {"electricity_kwh": None, "energy_tce": None, "co2_t": None, "co2_t_per_tce": None,
               "completeness": 0.0, "energy_change": None, "co2_change": None}
    assert all(e["previous"] == nothing for e in body["enterprises"]) and body["enterprises"]
    assert body["unallocated"]["previous"] == nothing
    measured = ranking(platform)["compare"]
    assert measured["park_energy_tce"] > 0 and 0 < measured["completeness"] <= 1
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/enterprises/ent-b/figures",
                                    params={"first": "2026-06-13", "compare": "previous_year"})
    assert r.status_code == 200, r.text
    assert r.json()["compare"]["figures"] is None and r.json()["compare"]["completeness"] == 0.0
    assert set(r.json()["compare"]["change"].values()) == {None}
    # 29 February is compared with 28 February
    leap = ranking(platform, first="2028-02-01", last="2028-02-29")["compare"]
    assert (leap["first"], leap["last"]) == ("2027-02-01", "2027-02-28")


def test_enterprise_figures_compared(platform):
    c = platform.client("read")
    url = f"/api/v1/parks/{PARK}/enterprises/ent-b/figures"
    plain = c.get(url, params={"first": DAY}).json()
    assert plain["compare"] is None  # only on request
    for basis, year, ratio in (("previous_year", 2025, 0.25), ("base_year", BASE_YEAR, 1.0)):
        r = c.get(url, params={"first": DAY, "compare": basis})
        assert r.status_code == 200, r.text
        cmp = r.json()["compare"]
        assert (cmp["basis"], cmp["year"], cmp["first"]) == (basis, year, f"{year}-06-14")
        scale = 0.8 if year == 2025 else 0.5
        assert cmp["figures"]["fuels"] == {"natural_gas_m3": pytest.approx(12 * Q * scale)}
        assert cmp["figures"]["energy_tce"] == pytest.approx((45 * 0.3 + 12 * 1.33) / 1000 * Q * scale)
        for key in ("electricity_kwh", "energy_tce", "energy_calorific_tce", "total_co2_t"):
            assert cmp["change"][key] == pytest.approx(ratio), key
        assert cmp["change"]["co2_t_per_tce"] == pytest.approx(0)  # the same mix both years
        assert cmp["change"]["energy_tce_per_wan_yuan"] is None  # no value added entered


def test_an_enterprise_credential_compares_and_reads_the_series_of_its_own_enterprise(platform):
    """`series?scope=enterprise` is an enterprise's route too (it was 404 for an enterprise credential:
    the shared dependency lets such a credential in only where the path has an `{enterprise_id}`)."""
    with sessions(platform.engine).begin() as s:
        _, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="tenant-b", now=NOW, enterprises=["ent-b"])
    c = platform.client()
    c.headers["Authorization"] = f"Bearer {key}"
    url = f"/api/v1/parks/{PARK}/series"
    r = c.get(url, params={"scope": "enterprise", "id": "ent-b", "step": "day", "first": DAY})
    assert r.status_code == 200, r.text
    values = r.json()["points"][0]["values"]  # ent-b-main and gas-ent-b, a quarter hour's 45 kWh and 12 m3
    assert (values["energy_import_kwh"], values["gas_m3"]) == (45 * Q, pytest.approx(12 * Q))
    other = c.get(url, params={"scope": "enterprise", "id": "ent-a", "step": "day", "first": DAY})
    missing = c.get(url, params={"scope": "enterprise", "id": "ent-z", "step": "day", "first": DAY})
    assert other.status_code == missing.status_code == 404, other.text
    assert other.json()["detail"] == missing.json()["detail"].replace("ent-z", "ent-a")  # the same as none at all
    for params in ({}, {"scope": "meter", "id": "grid-main"}, {"scope": "park"}):  # park-wide: as no such park
        r = c.get(url, params=params)
        assert r.status_code == 404 and r.json()["detail"] == f"park_id = {PARK!r}: no such park", (params, r.text)
    foreign = c.get(f"/api/v1/parks/{OTHER}/series", params={"scope": "enterprise", "id": "ent-b"})
    assert foreign.status_code == 404 and "no such park" in foreign.json()["detail"]
    r = c.get(f"/api/v1/parks/{PARK}/enterprises/ent-b/figures", params={"first": DAY, "compare": "previous_year"})
    assert r.status_code == 200 and r.json()["compare"]["change"]["energy_tce"] == pytest.approx(0.25)
    assert c.get(f"/api/v1/parks/{PARK}/enterprises/ent-a/figures", params={"compare": "base_year"}).status_code \
        == 404
    # last year's series of its own enterprise, as the enterprise page draws it
    s = c.get(f"/api/v1/parks/{PARK}/series", params={"scope": "enterprise", "id": "ent-b", "step": "day",
                                                      "first": "2025-06-13", "last": "2025-06-14"}).json()
    assert [(p["values"]["energy_import_kwh"], p["values"]["gas_m3"]) for p in s["points"]] == [
        (None, None), (pytest.approx(45 * Q * 0.8), pytest.approx(12 * Q * 0.8))]  # nothing measured: null


def test_park_series_of_the_same_days_last_year(platform):
    """The history view fetches last year's span itself: any span is a series."""
    c = platform.client("read")
    now = c.get(f"/api/v1/parks/{PARK}/series", params={"step": "day", "first": DAY}).json()["points"][0]
    then = c.get(f"/api/v1/parks/{PARK}/series", params={"step": "day", "first": "2025-06-14"}).json()["points"][0]
    assert then["label"] == "2025-06-14" and then["completeness"] == 1
    for key in ("electricity_kwh", "energy_tce", "co2_t"):
        assert then["values"][key] == pytest.approx(now["values"][key] * 0.8), key


def test_base_year_needs_a_declared_base_year(platform):
    r = platform.client("all").get(f"/api/v1/parks/{OTHER}/enterprise-ranking",
                                   params={"first": DAY, "compare": "base_year"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (f"compare = 'base_year': park {OTHER!r} declares no base year (set "
                                  "parks[].base_year in the config); use compare = 'previous_year'")
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/enterprise-ranking", params={"compare": "last_decade"})
    assert r.status_code == 422 and "compare" in r.text

