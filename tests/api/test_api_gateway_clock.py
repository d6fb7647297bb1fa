"""The gateway listing carries each gateway's clock offset as ingest stored it, and flags one
whose clock is further from ingest's than `ingest.max_clock_ahead_s` (on SQLite and PostgreSQL)."""

from datetime import timedelta

from lingtan.ingest.ledger import Ledger
from tests.support.api import NOW, OTHER, PARK


def test_gateway_listing_shows_clock_offsets(platform):
    c = platform.client("read")
    [gw] = c.get(f"/api/v1/parks/{PARK}/gateways").json()
    assert gw["clock_offset_s"] is None and gw["clock_off"] is False  # never measured
    ledger = Ledger(platform.config, platform.engine)
    ledger.commit([], [], "t1", {(PARK, "gw-demo"): (3600.25, NOW), (OTHER, "gw-other"): (-1.5, NOW)})
    [gw] = c.get(f"/api/v1/parks/{PARK}/gateways").json()
    assert gw["clock_offset_s"] == 3600.25 and gw["clock_off"] is True
    [other] = platform.client("other").get(f"/api/v1/parks/{OTHER}/gateways").json()
    assert other["clock_offset_s"] == -1.5 and other["clock_off"] is False
    # an older measurement never overwrites a newer one; a newer one does
    ledger.commit([], [], "t2", {(PARK, "gw-demo"): (0.0, NOW - timedelta(minutes=1))})
    assert c.get(f"/api/v1/parks/{PARK}/gateways").json()[0]["clock_offset_s"] == 3600.25
    ledger.commit([], [], "t3", {(PARK, "gw-demo"): (-400.0, NOW + timedelta(minutes=1))})
    [gw] = c.get(f"/api/v1/parks/{PARK}/gateways").json()
    assert gw["clock_offset_s"] == -400.0 and gw["clock_off"] is True
