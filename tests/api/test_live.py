"""Shared realtime snapshots and dashboard streams, on a real uvicorn server and a real database:
realtime requests reuse one computation until the data change, and many open streams are fed by
one broadcaster that builds each update once (counts, never timings)."""

import json
import threading
from datetime import timedelta

import httpx

from lingtan.api import live
from lingtan.cli.runner import api_server
from tests.support import free_port, wait_for
from tests.support.api import NOW, PARK, feed_latest, write_intervals


def test_realtime_is_computed_once_per_change(platform):
    ctx = platform.app.state.ctx
    c = platform.client("read")
    first = c.get(f"/api/v1/parks/{PARK}/carbon/realtime").json()
    computed = ctx.snapshots.computed
    for _ in range(20):
        assert c.get(f"/api/v1/parks/{PARK}/carbon/realtime").json()["year"] == first["year"]
    assert ctx.snapshots.computed == computed  # nothing changed: all twenty from the snapshot

    # new intervals (a new revision, written by another process): within the fingerprint's POLL_S
    # the periods are computed again, once, and show the change
    write_intervals(platform.engine, PARK, NOW, NOW + timedelta(minutes=15), scale=2.0)
    after = _realtime_when(c, lambda rt: rt["today"]["energy_tce"] > first["today"]["energy_tce"])
    assert ctx.snapshots.computed == computed + 1
    # a new reading: only the power part is computed again
    feed_latest(platform.config, platform.engine, PARK, NOW, grid_kw=999.0, seq=7)
    now = _realtime_when(c, lambda rt: rt["power"]["grid_kw"] == 999.0)
    assert now["today"] == after["today"]
    assert ctx.snapshots.computed == computed + 2


def _realtime_when(client, shows, park: str = PARK) -> dict:
    """The park's realtime answer once it shows a change made outside the API process (the API
    reuses a park's fingerprint for live.POLL_S, so that is the bound; a second of slack)."""
    got: list[dict] = []

    def check() -> bool:
        got[:] = [client.get(f"/api/v1/parks/{park}/carbon/realtime").json()]
        return shows(got[0])

    wait_for(check, live.POLL_S + 1.0, message="the change within the fingerprint's reuse bound")
    return got[0]


def test_many_open_streams_share_one_broadcaster(platform):
    server, thread, base = _served(platform)
    url = f"{base}/api/v1/parks/{PARK}/stream"
    headers = {"Authorization": f"Bearer {platform.keys['read']}"}
    streams = 30
    received: list[list[dict]] = [[] for _ in range(streams)]
    stop = threading.Event()

    def listen(i: int) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    received[i].append(json.loads(line[6:]))
                if stop.is_set():
                    return

    listeners = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(streams)]
    try:
        for t in listeners:
            t.start()
        wait_for(lambda: all(received), 20, message="every stream got its first update")
        shared = platform.app.state.ctx.streams[PARK]
        assert len(shared.subscribers) == streams
        builds = shared.builds
        feed_latest(platform.config, platform.engine, PARK, NOW + timedelta(seconds=1), grid_kw=123.0, seq=9)
        wait_for(lambda: all(any(u["realtime"]["power"]["grid_kw"] == 123.0 for u in got) for got in received),
                 20, message="the new reading on every stream")
        # thirty streams, one reading: built once (twice if the 5 s refresh fell in between), not thirty times
        assert shared.builds - builds <= 2
    finally:
        stop.set()
        server.should_exit = True
        thread.join(10)


def _served(platform):
    port = free_port()
    server = api_server(platform.app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, message="uvicorn started")
    return server, thread, f"http://127.0.0.1:{port}"


def _stream_until_closed(url: str, events: list[str], **kw) -> None:
    with httpx.stream("GET", url, timeout=30, **kw) as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])


def test_revoking_a_key_or_disabling_a_user_ends_their_open_streams(platform):
    from lingtan.api.auth import Scope, create_key, create_user, revoke_key
    from lingtan.store.db import sessions
    from lingtan.store.models import User

    with sessions(platform.engine).begin() as s:
        row, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="soon revoked", now=NOW)
        create_user(s, username="li", password="zero-carbon-2026", parks=[PARK], scopes=[Scope.READ], now=NOW)
    server, thread, base = _served(platform)
    try:
        login = httpx.post(f"{base}/api/v1/session", json={"username": "li", "password": "zero-carbon-2026"})
        assert login.status_code == 200
        url = f"{base}/api/v1/parks/{PARK}/stream"
        by_key, by_user = [], []
        streams = [threading.Thread(target=_stream_until_closed, args=(url, by_key),
                                    kwargs={"headers": {"Authorization": f"Bearer {key}"}}, daemon=True),
                   threading.Thread(target=_stream_until_closed, args=(url, by_user),
                                    kwargs={"cookies": dict(login.cookies)}, daemon=True)]
        for t in streams:
            t.start()
        wait_for(lambda: "update" in by_key and "update" in by_user, 20, message="both streams live")
        with sessions(platform.engine).begin() as s:
            revoke_key(s, row.id, NOW)
            s.get(User, "li").disabled = True
        for t in streams:
            t.join(20)
            assert not t.is_alive(), "a stream went on after its credential was withdrawn"
        assert by_key[-1] == "revoked" and by_user[-1] == "revoked"
    finally:
        server.should_exit = True
        thread.join(10)
