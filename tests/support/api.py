"""Shared fixtures of the API tests: a two-park platform on a real database (SQLite file or a real
PostgreSQL cluster), fed through ingest's own ledger (latest readings) and with 15-minute
intervals as the accounting service writes them, a fixed clock, and keys of every kind.

Imported by the tests in tests/api/; tests/conftest.py registers it as a plugin (`pytest_plugins`),
so the fixtures `db_url` and `platform` are found by any test that names them.
"""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import delete

from lingtan.accounting.service import update_aggregates
from lingtan.api.app import create_app
from lingtan.api.auth import Scope, create_key
from lingtan.cli.configfile import demo_config_text
from lingtan.ingest.ledger import Ledger
from lingtan.kernel.config import Config, parse_config
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import IntervalEnergy
from lingtan.store.timeseries.base import Row

NOW = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)  # 14:00 in Asia/Shanghai
TODAY = date(2026, 6, 15)
PARK = "demo-park"
ZONE = ZoneInfo("Asia/Shanghai")  # the demo park's time zone
OTHER = "other-park"
QUARTER = timedelta(minutes=15)

# kWh (or m3, GJ) per 15 minutes, constant: easy to check by hand
PER_QUARTER = {
    "grid-main": {"energy_import_kwh": 100.0, "energy_export_kwh": 0.0},
    "pv-roof": {"energy_export_kwh": 40.0, "energy_import_kwh": 0.0},
    "bess": {"energy_import_kwh": 10.0, "energy_export_kwh": 8.0},
    "ent-a-main": {"energy_import_kwh": 50.0},
    "ent-b-main": {"energy_import_kwh": 45.0},
    "ent-c-main": {"energy_import_kwh": 30.0},
    "gas-main": {"gas_m3": 20.0},
    "gas-ent-b": {"gas_m3": 12.0},
    "gas-ent-c": {"gas_m3": 8.0},
    "steam-main": {"heat_gj": 1.5},
}


def two_park_config(db_url: str, demo_open: bool = False) -> Config:
    data = yaml.safe_load(demo_config_text())
    other = yaml.safe_load(yaml.safe_dump(data["parks"][0]))
    other.update(id=OTHER, name="另一园区 Other park")
    for m in other["meters"]:
        m["gateway"] = "gw-other"
    data["parks"].append(other)
    data["gateways"].append({"id": "gw-other", "park": OTHER, "buses": [{"id": "rs485-1", "port": 15021}],
                             "spool": {"path": "x.db"}})
    data["store"]["url"] = db_url
    data["api"] = {"demo_open": demo_open}
    return parse_config(data, "test")


def local_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=8)


def write_intervals(engine, park: str, first: datetime, end: datetime, scale: float = 1.0,
                    updated_at: datetime = NOW) -> int:
    """Intervals as the accounting service writes them (one transaction per meter and day)."""
    rows = []
    t = first
    while t < end:
        local_day = (t + timedelta(hours=8)).date()
        for meter, quantities in PER_QUARTER.items():
            for q, amount in quantities.items():
                rows.append(IntervalEnergy(park=park, meter=meter, quantity=q, start=t, day=local_day,
                                           amount=amount * scale, completeness=1.0, estimated=False, flags="",
                                           updated_at=updated_at))
        t += QUARTER
    with sessions(engine).begin() as s:  # like lingtan.accounting.service: replace what was there
        s.execute(delete(IntervalEnergy).where(IntervalEnergy.park == park, IntervalEnergy.start >= first,
                                               IntervalEnergy.start < end))
        s.add_all(rows)
        days = {r.day for r in rows}
        for meter, quantities in PER_QUARTER.items():
            for q in quantities:  # and the daily and monthly sums, by the service's own code
                update_aggregates(s, park, ZONE, meter, q, days)
    return len(rows)


def feed_latest(config: Config, engine, park: str, ts: datetime, grid_kw: float = 400.0, seq: int = 1) -> None:
    """Newest readings through ingest's own ledger (the contract ingest writes)."""
    values = {
        "grid-main": {"power_kw": grid_kw, "energy_import_kwh": 1000.0},
        "pv-roof": {"power_kw": -160.0}, "bess": {"power_kw": 8.0, "soc_pct": 55.0},
        "ent-a-main": {"power_kw": 200.0}, "ent-b-main": {"power_kw": 180.0}, "ent-c-main": {"power_kw": 120.0},
        "gas-main": {"gas_flow_m3h": 80.0}, "gas-ent-b": {"gas_flow_m3h": 48.0}, "gas-ent-c": {"gas_flow_m3h": 32.0},
        "steam-main": {"heat_power_kw": 1700.0},
    }
    gateway = "gw-demo" if park == PARK else "gw-other"
    rows = [Row(park, m, int(ts.timestamp() * 1000), gateway, seq, v) for m, v in values.items()]
    Ledger(config, engine).commit(rows, [], token=f"t{seq}")


@dataclass
class Platform:
    config: Config
    engine: object
    app: object
    keys: dict[str, str]
    clock: list  # [now]; tests may move it

    def client(self, key: str | None = None) -> TestClient:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return TestClient(self.app, headers=headers)


KEYS = {  # name -> (parks, scopes)
    "read": ([PARK], [Scope.READ]),
    "write": ([PARK], [Scope.WRITE]),
    "admin": ([PARK], [Scope.ADMIN]),
    "all": (None, [Scope.READ, Scope.WRITE, Scope.ADMIN]),
    "other": ([OTHER], [Scope.READ, Scope.WRITE, Scope.ADMIN]),
}


def make_platform(db_url: str, demo_open: bool = False, config: Config | None = None) -> Platform:
    """The two-park platform: keys of every kind, yesterday's and today's intervals and the newest
    readings of both parks; `config` instead of `two_park_config(db_url, demo_open)` if given."""
    config = config or two_park_config(db_url, demo_open)
    engine = make_engine(db_url)
    clock = [NOW]
    keys = {}
    with sessions(engine).begin() as s:
        for name, (parks, scopes) in KEYS.items():
            _, keys[name] = create_key(s, parks=parks, scopes=scopes, name=name, now=NOW)
    midnight = local_midnight_utc(TODAY)
    for park in (PARK, OTHER):
        write_intervals(engine, park, midnight - timedelta(days=1), NOW)
        feed_latest(config, engine, park, NOW - timedelta(seconds=5))
    app = create_app(config, engine, clock=lambda: clock[0])
    return Platform(config, engine, app, keys, clock)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """The API suite runs on a SQLite file and on a real PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'platform.db'}"
    return request.getfixturevalue("postgres").url


@pytest.fixture
def platform(db_url) -> Platform:
    p = make_platform(db_url)
    yield p
    p.engine.dispose()



CHROMIUM = "/usr/bin/chromium"  # Debian's chromium; playwright-core drives it (no browser download)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def chromium(playwright):
    """A headless Chromium from Debian's package, started by playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@contextlib.contextmanager
def serving(platform: "Platform") -> Iterator[str]:
    """The platform's app on a real uvicorn server (`lingtan api`'s) on a free port, in a thread;
    yields its base URL and stops it afterwards."""
    from lingtan.cli.runner import api_server
    from tests.support import free_port, wait_for
    port = free_port()
    server = api_server(platform.app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, message="uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
