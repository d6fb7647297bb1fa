"""The API's per-process caches on a real database and, where a second process or TLS matters, a
real uvicorn server: shared series answers (they follow new intervals and activity data, keep their
ETags, never cross parks or enterprises), the reuse of a park's fingerprint and of checked
credentials (bounded; in-process logouts and writes at once, other processes' revocations within
auth.PRINCIPAL_TTL_S), and the session cookie's Secure flag behind a trusted proxy. Counts and
bounds, never timings: the caches' clocks are injected where a test needs them to stand still."""

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import event

from lingtan.api import live
from lingtan.api.app import create_app
from lingtan.api.auth import PRINCIPAL_TTL_S, SESSION_COOKIE, Scope, create_key, create_user
from lingtan.cli.configfile import demo_config_text
from lingtan.cli.runner import api_server
from lingtan.kernel.config import ConfigError, parse_config
from lingtan.store.db import sessions
from tests.support import free_port, wait_for
from tests.support.api import NOW, OTHER, PARK, TODAY, write_intervals

SERIES = f"/api/v1/parks/{PARK}/series?step=hour&first={TODAY}&last={TODAY}"
FACTOR = {"factors": {"co2.electricity.fossil": {"value": 0.5366, "unit": "kgCO2/kWh",
                                                 "source": "test: a lower grid factor"}}}


def _statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: seen.append(sql))
    return seen


def test_a_cached_series_follows_new_intervals_and_activity_and_keeps_its_etag(platform):
    ctx = platform.app.state.ctx
    c = platform.client("write")
    first = c.get(SERIES)
    assert first.status_code == 200
    tag = first.headers["etag"]
    computed = ctx.answers.computed
    again = c.get(SERIES)
    assert again.content == first.content and again.headers["etag"] == tag
    assert ctx.answers.computed == computed  # served from the cache
    assert again.json() == c.get(SERIES, headers={"Cache-Control": "no-cache"}).json()
    unchanged = c.get(SERIES, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == tag

    # new intervals written by another process (accounting): seen within the fingerprint's POLL_S
    write_intervals(platform.engine, PARK, NOW - timedelta(hours=1), NOW, scale=3.0)
    moved = wait_for(lambda: (r := c.get(SERIES)).content != first.content and r, live.POLL_S + 1.0,
                     message="the series after new intervals")
    assert moved.headers["etag"] != tag
    hour = next(p for p in moved.json()["points"] if p["label"] == "2026-06-15T13:00")
    before = next(p for p in first.json()["points"] if p["label"] == "2026-06-15T13:00")
    assert hour["values"]["grid_import_kwh"] == pytest.approx(3 * before["values"]["grid_import_kwh"])
    stale = c.get(SERIES, headers={"If-None-Match": tag})
    assert stale.status_code == 200 and stale.content == moved.content

    # activity data entered through this process: the next read shows it, no wait
    co2 = sum(p["values"]["co2_t"] or 0 for p in moved.json()["points"])
    assert c.put(f"/api/v1/parks/{PARK}/activity/2026", json=FACTOR).status_code == 200
    after = c.get(SERIES).json()
    assert sum(p["values"]["co2_t"] or 0 for p in after["points"]) < co2


def test_a_cached_series_never_crosses_parks_or_enterprises(platform):
    ctx = platform.app.state.ctx
    write_intervals(platform.engine, OTHER, NOW - timedelta(hours=2), NOW, scale=5.0)  # the parks differ
    everyone = platform.client("all")
    mine = everyone.get(SERIES).json()
    theirs_url = SERIES.replace(PARK, OTHER)
    theirs = everyone.get(theirs_url).json()
    assert mine["park"] == PARK and theirs["park"] == OTHER and mine["points"] != theirs["points"]
    # both are cached now; a key of one park still gets 404 on the other's, with none of its data
    for key, url in (("read", theirs_url), ("other", SERIES)):
        r = platform.client(key).get(url)
        assert r.status_code == 404 and "points" not in r.text
        r = platform.client(key).get(url, headers={"If-None-Match": "*"})
        assert r.status_code == 404
    assert platform.client("read").get(SERIES).json() == mine
    assert platform.client("other").get(theirs_url).json() == theirs

    # enterprises of one park: each its own answer (ent-a 50 kWh, ent-b 45 kWh per quarter hour)
    def enterprise(ident: str) -> dict:
        r = platform.client("read").get(f"/api/v1/parks/{PARK}/series", params={
            "scope": "enterprise", "id": ident, "step": "hour", "first": str(TODAY)})
        assert r.status_code == 200, r.text
        return next(p for p in r.json()["points"] if p["label"] == "2026-06-15T10:00")["values"]

    for _ in range(2):  # computed, then cached
        assert enterprise("ent-a")["energy_import_kwh"] == pytest.approx(4 * 50.0)
        assert enterprise("ent-b")["energy_import_kwh"] == pytest.approx(4 * 45.0)
    assert ctx.answers.computed == 4  # two parks' series and two enterprises', each once


def test_cached_requests_look_up_no_key_and_read_the_fingerprint_once_per_bound(platform):
    ctx = platform.app.state.ctx
    clock = [1000.0]
    ctx.principals.monotonic = ctx.snapshots.monotonic = lambda: clock[0]
    c = platform.client("read")
    realtime = f"/api/v1/parks/{PARK}/carbon/realtime"
    assert c.get(SERIES).status_code == 200 and c.get(realtime).status_code == 200
    seen = _statements(platform.engine)
    for _ in range(10):
        assert c.get(SERIES).status_code == 200 and c.get(realtime).status_code == 200
    assert seen == []  # no key lookup, no fingerprint, no series query: all from the caches
    clock[0] += live.POLL_S
    c.get(SERIES)
    c.get(realtime)
    assert len(seen) == 1 and "max" in seen[0].lower()  # the fingerprint, once, read again
    seen.clear()
    clock[0] += PRINCIPAL_TTL_S
    c.get(realtime)
    assert any("from api_key" in s.lower() for s in seen)  # the key is checked again after the bound


def test_logout_and_writes_through_the_process_act_at_once_and_cli_revocation_within_the_bound(platform, tmp_path):
    with sessions(platform.engine).begin() as s:
        row, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="city poller", now=NOW)
        create_user(s, username="li", password="zero-carbon-2026", parks=[PARK], scopes=[Scope.READ], now=NOW)
    server, thread, base = _served(platform.app)
    try:
        realtime = f"{base}/api/v1/parks/{PARK}/carbon/realtime"
        login = httpx.post(f"{base}/api/v1/session", json={"username": "li", "password": "zero-carbon-2026"})
        token = login.cookies[SESSION_COOKIE]
        cookies = {SESSION_COOKIE: token}
        assert httpx.get(realtime, cookies=cookies).status_code == 200  # the session is remembered now
        assert httpx.delete(f"{base}/api/v1/session", cookies=cookies).status_code == 204
        assert httpx.get(realtime, cookies=cookies).status_code == 401  # logged out here: refused at once

        bearer = {"Authorization": f"Bearer {key}"}
        assert httpx.get(realtime, headers=bearer).status_code == 200
        config = tmp_path / "platform.yaml"
        data = yaml.safe_load(demo_config_text())
        data["store"]["url"] = platform.config.store.url
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        lingtan = Path(sys.executable).parent / "lingtan"
        done = subprocess.run([str(lingtan), "keys", "revoke", "--config", str(config), row.id],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: httpx.get(realtime, headers=bearer).status_code == 401, PRINCIPAL_TTL_S + 1.0,
                 message="the key revoked by another process refused within the principal cache's bound")
        assert httpx.get(realtime, headers=bearer).status_code == 401
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("trusted", [["127.0.0.1"], ["127.0.0.9/8"], ["10.9.9.9"], []])
def test_the_session_cookie_is_secure_when_a_trusted_proxy_says_https(platform, trusted):
    """'127.0.0.9/8' (host bits set) means 127.0.0.0/8: validated as such, and uvicorn, which parses
    networks strictly, was given the literal and never matched it (the proxy was not trusted)."""
    api = type(platform.config.api).model_validate({**platform.config.api.model_dump(), "trusted_proxies": trusted})
    config = platform.config.model_copy(update={"api": api})
    believed = trusted in (["127.0.0.1"], ["127.0.0.9/8"])
    with sessions(platform.engine).begin() as s:
        create_user(s, username="wang", password="zero-carbon-2026", parks=[PARK], scopes=[Scope.READ], now=NOW)
    app = create_app(config, platform.engine, clock=lambda: platform.clock[0])
    server, thread, base = _served(app)
    try:
        def cookie(headers: dict) -> str:
            r = httpx.post(f"{base}/api/v1/session", json={"username": "wang", "password": "zero-carbon-2026"},
                           headers=headers)
            assert r.status_code == 200, r.text
            return r.headers["set-cookie"]

        plain = cookie({})
        told = cookie({"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        assert "secure" not in plain.lower()  # plain http from the client itself
        if believed:  # the test client is the proxy: it is believed
            assert "; secure" in told.lower()
        else:  # an untrusted client (or no proxies configured) cannot claim https
            assert "secure" not in told.lower()
        assert "httponly" in told.lower() and "samesite=strict" in told.lower()
        # the login throttle counts the address the proxy names, and only a trusted proxy's
        wrong = httpx.post(f"{base}/api/v1/session", json={"username": "wang", "password": "wrong password"},
                           headers={"X-Forwarded-For": "203.0.113.9"})
        assert wrong.status_code == 401
        counted = {value for (kind, value), failures in app.state.ctx.logins._failures.items()
                   if kind == "address" and failures}
        assert counted == ({"203.0.113.9"} if believed else {"127.0.0.1"})
    finally:
        server.should_exit = True
        thread.join(10)


def test_trusted_proxies_must_be_addresses():
    data = yaml.safe_load(demo_config_text())
    data["api"] = {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "proxy.example"]}
    with pytest.raises(ConfigError) as err:
        parse_config(data, "platform.yaml")
    assert "trusted_proxies" in str(err.value) and "proxy.example" in str(err.value)


def _served(app):
    port = free_port()
    server = api_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, message="uvicorn started")
    return server, thread, f"http://127.0.0.1:{port}"
