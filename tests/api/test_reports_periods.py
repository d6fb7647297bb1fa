"""Who owes a key-energy-user report (a year of data, a declaration or a filing; never the month
alone), the Jiangxi annex without an earlier base year, the report layer's own errors and the
ranking without a comparison, and `lingtan reports run` over every closed period, rewriting a
report while its content changes up to the period's horizon. SQLite platforms of tests/support/api.py."""

from datetime import UTC, date, datetime

import pytest
import yaml

from lingtan.api import enterprises
from lingtan.api.reports import build_report
from lingtan.cli.main import main
from lingtan.store.db import sessions
from tests.support.api import NOW, PARK, local_midnight_utc, make_platform, write_intervals

API = f"/api/v1/parks/{PARK}"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    p = make_platform(f"sqlite:///{tmp_path_factory.mktemp('periods')}/p.db")
    # one day of May at 20,000 times the usual rate: every enterprise is far over 5,000 tce on 12 months
    write_intervals(p.engine, PARK, local_midnight_utc(date(2026, 5, 4)), local_midnight_utc(date(2026, 5, 5)),
                    scale=20_000)
    yield p
    p.engine.dispose()


@pytest.fixture
def platform(shared):
    yield shared
    shared.clock[0] = NOW


def test_a_key_energy_user_offline_for_the_month_is_listed_missing(platform):
    """July has no data at all; on the 12 months to July the enterprises are over the threshold:
    listed, and missing after the due day. The park's July report is not there (no data), the
    status list is."""
    platform.clock[0] = datetime(2026, 8, 15, 4, 0, tzinfo=UTC)
    r = platform.client("read").get(f"{API}/reports/keu-monthly/status", params={"period": "2026-07"})
    assert r.status_code == 200, r.text
    assert [(f["enterprise"], f["status"]) for f in r.json()["reports"]] == [
        ("ent-a", "missing"), ("ent-b", "missing"), ("ent-c", "missing")]


def test_a_filer_not_otherwise_counted_is_listed(platform):
    """April: nothing in the 12 months to April, none declared; ent-c files all the same and is listed."""
    platform.clock[0] = datetime(2026, 8, 15, 4, 0, tzinfo=UTC)
    status = f"{API}/reports/keu-monthly/status"
    assert platform.client("read").get(status, params={"period": "2026-04"}).json()["reports"] == []
    r = platform.client("write").post(f"{API}/enterprises/ent-c/reports/keu-monthly/2026-04/submit")
    assert r.status_code == 200, r.text
    rows = platform.client("read").get(status, params={"period": "2026-04"}).json()["reports"]
    assert [(f["enterprise"], f["status"]) for f in rows] == [("ent-c", "late")]


def test_jiangxi_annex_without_an_earlier_base_year_compares_nothing(platform):
    """Data only in 2026 and no base_year configured: base and change empty, with a note; never 0.0."""
    with sessions(platform.engine)() as s:
        report = build_report(s, platform.config.park(PARK), "jiangxi-annex1", "2026", NOW, 10)
    emissions = next(t for t in report.tables if t.key == "emissions")
    assert emissions.rows and all(row["base"] is None and row["change"] is None for row in emissions.rows)
    assert any(row["y2026"] for row in emissions.rows)
    assert any("No base year with data before 2026" in n.en for n in report.notes)
    assert dict((f[0].en, f[1]) for f in report.facts)["Base year"].en == "none"


def test_park_monthly_builds_no_comparison_and_services_raise_their_own_errors(platform, monkeypatch):
    park = platform.config.park(PARK)
    spans = []
    real = enterprises.account_of

    def account_of(session, park, first, last):
        spans.append((first, last))
        return real(session, park, first, last)

    monkeypatch.setattr(enterprises, "account_of", account_of)
    with sessions(platform.engine)() as s:
        build_report(s, park, "park-monthly", "2026-06", NOW, 10)
        assert spans and all(first.year == 2026 for first, _ in spans), spans  # no account of 2025
        plain = enterprises.ranking(s, park, date(2026, 6, 14), date(2026, 6, 14), "energy", compare=None)
        assert plain.compare is None and all(e.previous is None for e in plain.enterprises)
        assert plain.unallocated.previous is None
        with pytest.raises(enterprises.NoSuchEnterprise, match="'ent-zz'"):
            enterprises.figures(s, park, "ent-zz", date(2026, 6, 14), date(2026, 6, 14), "jiangsu")
        with pytest.raises(enterprises.EnterpriseError, match="one calendar year"):
            enterprises.account_of(s, park, date(2025, 12, 31), date(2026, 1, 1))
    # the API answers as before: 404 and 422 problem+json naming the value
    c = platform.client("read")
    r = c.get(f"{API}/enterprises/ent-zz/figures", params={"first": "2026-06-14"})
    assert r.status_code == 404 and "'ent-zz'" in r.json()["detail"], r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = c.get(f"{API}/enterprise-ranking", params={"first": "2026-06-14", "compare": "base_year"})
    assert r.status_code == 422 and "compare = 'base_year'" in r.json()["detail"], r.text


def _config(p, tmp_path, name: str):
    data = p.config.model_dump(mode="json")
    data["reports"] = {"folder": str(tmp_path / name), "languages": ["zh"]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path), tmp_path / name / PARK


def _run(config: str, now: datetime, capsys) -> tuple[list[str], str]:
    capsys.readouterr()
    assert main(["reports", "run", "--config", config, "--now", now.isoformat()]) == 0
    out = capsys.readouterr().out
    return sorted(line.rsplit("/", 1)[1] for line in out.splitlines()
                  if line.startswith("wrote ") and f"/{PARK}/{PARK}-" in line), out


def test_reports_run_covers_the_backlog_and_rewrites_until_the_horizon(tmp_path, capsys):
    p = make_platform(f"sqlite:///{tmp_path / 'p.db'}")  # data on 14 and 15 June 2026 only
    try:
        # a host that was off through July: on 2 August both June (with data) and July are closed
        backlog, _ = _config(p, tmp_path, "backlog")
        written, out = _run(backlog, datetime(2026, 8, 2, 0, 0, tzinfo=UTC), capsys)
        assert written == [f"{PARK}-park-monthly-2026-06-zh.xlsx"], out

        config, folder = _config(p, tmp_path, "out")
        written, _ = _run(config, datetime(2026, 7, 1, 0, 0, tzinfo=UTC), capsys)  # 08:00 on 1 July
        assert written == [f"{PARK}-park-monthly-2026-06-zh.xlsx"]
        assert _run(config, datetime(2026, 7, 1, 1, 0, tzinfo=UTC), capsys)[0] == []  # nothing changed

        # late readings for 20 June, ent-a declared a key energy user and files on 3 July
        write_intervals(p.engine, PARK, local_midnight_utc(date(2026, 6, 20)), local_midnight_utc(date(2026, 6, 21)))
        w = p.client("write")
        assert w.put(f"{API}/activity/2026", json={"enterprises": {"ent-a": {"key_energy_user": True}}}
                     ).status_code == 200
        p.clock[0] = datetime(2026, 7, 3, 2, 0, tzinfo=UTC)
        assert w.post(f"{API}/enterprises/ent-a/reports/keu-monthly/2026-06/submit").status_code == 200
        before = (folder / f"{PARK}-park-monthly-2026-06-zh.xlsx").read_bytes()
        written, _ = _run(config, datetime(2026, 7, 5, 0, 0, tzinfo=UTC), capsys)
        assert written == [f"{PARK}-keu-monthly-2026-06-ent-a-zh.xlsx", f"{PARK}-park-monthly-2026-06-zh.xlsx"]
        assert (folder / f"{PARK}-park-monthly-2026-06-zh.xlsx").read_bytes() != before
        assert _run(config, datetime(2026, 7, 6, 0, 0, tzinfo=UTC), capsys)[0] == []

        # past the horizon (due 10 July + 5 days) the written June is final: later changes stay out
        write_intervals(p.engine, PARK, local_midnight_utc(date(2026, 6, 21)), local_midnight_utc(date(2026, 6, 22)))
        assert _run(config, datetime(2026, 7, 20, 0, 0, tzinfo=UTC), capsys)[0] == []
        assert not list(folder.parent.rglob("*.part"))
    finally:
        p.engine.dispose()
