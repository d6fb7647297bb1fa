"""Authentication and park-level authorisation on every route, found by enumerating app.routes.

A route added without the right dependency fails here: every route either is in PUBLIC or
answers 401 without a credential, and every park route answers a key of another park with the
same 404 as a park that does not exist.
"""

import re

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from lingtan.api.auth import PRINCIPAL_TTL_S, SESSION_COOKIE, Scope, create_key, create_user
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import Alarm, ApiKey, DeadLetter, User, WebSession
from tests.support import wait_for
from tests.support.api import NOW, OTHER, PARK, make_platform

# liveness, log in / out, and the dashboard's HTML shell (it holds no data; the data needs a login)
PUBLIC = {("GET", "/api/v1/health"), ("POST", "/api/v1/session"), ("DELETE", "/api/v1/session"), ("GET", "/"),
          ("GET", "/favicon.ico")}  # the dashboard and its icon are public
# routes that are not API routes: the spec, its browser, and the dashboard's static files
NON_API = {"/api/v1/openapi.json", "/api/docs", "/docs/oauth2-redirect", "/static"}
NEEDS = {  # the scope each non-read route needs
    ("PUT", "/api/v1/parks/{park_id}/activity/{year}"): "write",
    ("GET", "/api/v1/parks/{park_id}/audit"): "admin",
    ("GET", "/api/v1/dead-letters"): "admin",
    ("POST", "/api/v1/parks/{park_id}/alarms/{alarm_id}/ack"): "write",
    ("POST", "/api/v1/parks/{park_id}/enterprises/{enterprise_id}/reports/keu-monthly/{month}/submit"): "write",
}
PATH_VALUES = {"meter_id": "grid-main", "enterprise_id": "ent-a", "year": "2026", "framework_id": "national",
               "kind": "park-monthly", "month": "2026-05"}
# the park routes an enterprise credential may read too, cut to its own share (lingtan.api.deps SharedReader)
SHARED = {("GET", "/api/v1/parks"), ("GET", "/api/v1/parks/{park_id}")}
BODIES = {"PUT": {"economy": {"industrial_value_added_wan_yuan": 1000}}, "POST": {}}


def api_routes(app) -> list[tuple[str, str]]:
    """(method, full path) of every API route in app.routes, included routers expanded."""
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute):  # FastAPI < 0.120 flattens included routers
            out += [(method, route.path) for method in sorted(route.methods)]
        elif hasattr(route, "effective_route_contexts"):  # newer FastAPI keeps them nested
            for ctx in route.effective_route_contexts():
                if isinstance(ctx.original_route, APIRoute):
                    out += [(method, ctx.path) for method in sorted(ctx.original_route.methods)]
        elif getattr(route, "path", None) is not None:
            assert route.path in NON_API, f"unexpected route {route.path}: add it to the auth tests"
    documented = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= set(out), documented - set(out)  # the enumeration misses nothing documented
    assert len(out) >= 20
    return out


ALARM_IDS: dict[str, int] = {}  # park → an alarm of that park, made by raised_alarms()


def raised_alarms(engine) -> None:
    """One raised alarm in each of the two parks, for the acknowledge route's `{alarm_id}`."""
    with sessions(engine).begin() as s:
        for park in (PARK, OTHER):
            alarm = Alarm(park=park, rule="meter_no_data", subject="grid-main", severity="warning", state="raised",
                          since=NOW, raised_at=NOW, updated_at=NOW, message="test")
            s.add(alarm)
            s.flush()
            ALARM_IDS[park] = alarm.id


def url(path: str, park: str) -> str:
    filled = path.replace("{park_id}", park).replace("{alarm_id}", str(ALARM_IDS.get(park, 1)))
    for name, value in PATH_VALUES.items():
        filled = filled.replace("{" + name + "}", value)
    assert not re.search(r"{\w+}", filled), f"no test value for a path parameter of {path}"
    return filled + ("?once=true" if filled.endswith("/stream") else "")


def call(client, method: str, path: str):
    return client.request(method, path, json=BODIES.get(method))


def test_every_route_needs_a_credential(platform):
    p = platform
    raised_alarms(p.engine)
    anonymous = p.client()
    for method, path in api_routes(p.app):
        if (method, path) in PUBLIC:
            continue
        r = call(anonymous, method, url(path, PARK))
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        bad = p.client()
        bad.headers["Authorization"] = "Bearer lt_00000000_forged"
        assert call(bad, method, url(path, PARK)).status_code == 401, (method, path)


def test_a_key_of_another_park_gets_nothing_on_every_route(platform):
    p = platform
    raised_alarms(p.engine)
    with sessions(p.engine).begin() as s:
        s.add(DeadLetter(received_at=NOW, topic=f"lingtan/v1/{PARK}/gw-demo/readings", park=PARK, gateway="gw-demo",
                         reason="test", payload="{}"))
    assert PARK in p.client("admin").get("/api/v1/dead-letters").text
    other = p.client("other")  # read, write and admin, but on the other park only
    for method, path in api_routes(p.app):
        if (method, path) in PUBLIC:
            continue
        r = call(other, method, url(path, PARK))
        if "{park_id}" in path:
            # the same answer as for a park that does not exist: existence is not leaked
            missing = call(other, method, url(path, "no-such-park"))
            assert r.status_code == missing.status_code == 404, (method, path, r.text)
            assert r.json()["detail"] == missing.json()["detail"].replace("no-such-park", PARK)
            own = call(other, method, url(path, OTHER))
            assert own.status_code < 400, (method, path, own.status_code, own.text)
        else:
            assert r.status_code == 200, (method, path, r.text)
            assert PARK not in r.text, (method, path, r.text)  # nothing of the park leaks
    assert [x["id"] for x in other.get("/api/v1/parks").json()] == [OTHER]
    assert other.get("/api/v1/session").json()["parks"] == [OTHER]


def test_scopes_are_enforced_on_every_route(platform):
    p = platform
    raised_alarms(p.engine)
    reader, writer, admin = p.client("read"), p.client("write"), p.client("admin")
    for method, path in api_routes(p.app):
        if (method, path) in PUBLIC:
            continue
        need = NEEDS.get((method, path), "read")
        for name, client in (("read", reader), ("write", writer), ("admin", admin)):
            allowed = {"read": name in ("read", "write", "admin"), "write": name in ("write", "admin"),
                       "admin": name == "admin"}[need]
            r = call(client, method, url(path, PARK))
            if allowed:
                assert r.status_code < 400, (name, method, path, r.status_code, r.text)
            else:
                assert r.status_code == 403, (name, method, path, r.status_code)
                assert f"lacks scope '{need}'" in r.json()["detail"]


def test_keys_are_stored_hashed_and_can_be_revoked(platform):
    p = platform
    with sessions(p.engine)() as s:
        stored = " ".join(f"{k.id} {k.key_sha256} {k.name} {k.parks}" for k in s.scalars(select(ApiKey)))
    for key in p.keys.values():
        assert key not in stored and key.split("_", 2)[2] not in stored
    client = p.client("read")
    assert client.get(f"/api/v1/parks/{PARK}").status_code == 200
    key_id = p.keys["read"].split("_")[1]
    with sessions(p.engine).begin() as s:  # as `lingtan keys revoke` does, from outside the API process
        s.get(ApiKey, key_id).revoked_at = NOW
    # refused within the principal cache's bound (auth.PRINCIPAL_TTL_S; a second of slack), for good
    wait_for(lambda: client.get(f"/api/v1/parks/{PARK}").status_code == 401, PRINCIPAL_TTL_S + 1.0,
             message="the revoked key refused")
    assert client.get(f"/api/v1/parks/{PARK}").status_code == 401
    # a key with a valid id but a wrong secret
    forged = p.keys["all"][:-4] + ("AAAA" if not p.keys["all"].endswith("AAAA") else "BBBB")
    r = p.client().get("/api/v1/parks", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_dashboard_login_sets_a_strict_httponly_cookie_and_logout_ends_it(platform):
    p = platform
    with sessions(p.engine).begin() as s:
        create_user(s, username="li", password="correct horse battery", parks=[PARK], scopes=[Scope.READ], now=NOW)
    with sessions(p.engine)() as s:
        assert s.get(User, "li").password_hash.startswith("$argon2id$")
    c = p.client()
    assert c.post("/api/v1/session", json={"username": "li", "password": "wrong password!"}).status_code == 401
    assert c.post("/api/v1/session", json={"username": "nobody", "password": "whatever123"}).status_code == 401
    r = c.post("/api/v1/session", json={"username": "li", "password": "correct horse battery"})
    assert r.status_code == 200 and r.json() == {"kind": "user", "name": "li", "parks": [PARK], "scopes": ["read"],
                                                   "enterprises": None}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = c.cookies[SESSION_COOKIE]
    with sessions(p.engine)() as s:
        assert token not in " ".join(w.token_sha256 for w in s.scalars(select(WebSession)))
    assert c.get(f"/api/v1/parks/{PARK}/carbon/realtime").status_code == 200
    assert c.get(f"/api/v1/parks/{OTHER}/carbon/realtime").status_code == 404
    assert c.put(f"/api/v1/parks/{PARK}/activity/2026", json={}).status_code == 403
    assert c.delete("/api/v1/session").status_code == 204
    c.cookies.set(SESSION_COOKIE, token)  # a stolen cookie after logout is worthless
    assert c.get("/api/v1/session").status_code == 401
    p.clock[0] = NOW
    c2 = p.client()
    c2.post("/api/v1/session", json={"username": "li", "password": "correct horse battery"})
    from datetime import timedelta
    p.clock[0] = NOW + timedelta(hours=p.config.api.session_hours, seconds=1)
    assert c2.get("/api/v1/session").status_code == 401  # expired


def test_demo_open_mode_needs_no_credential(tmp_path):
    p = make_platform(f"sqlite:///{tmp_path / 'demo.db'}", demo_open=True)
    c = p.client()
    assert c.get("/api/v1/session").json()["kind"] == "demo"
    assert c.get(f"/api/v1/parks/{PARK}/carbon/realtime").status_code == 200
    # a presented but wrong key is still refused in demo mode
    assert c.get("/api/v1/parks", headers={"Authorization": "Bearer lt_x_y"}).status_code == 401
    p.engine.dispose()


@pytest.mark.parametrize("scope", ["read", "write", "admin"])
def test_cli_creates_lists_and_revokes_keys_and_users(tmp_path, capsys, scope, monkeypatch):
    import yaml

    from lingtan.cli.configfile import demo_config_text
    from lingtan.cli.main import main
    data = yaml.safe_load(demo_config_text())
    data["store"]["url"] = f"sqlite:///{tmp_path / 'cli.db'}"
    data["api"] = {"port": 8000}
    cfg = tmp_path / "platform.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    make_engine(data["store"]["url"]).dispose()  # the platform's database, as a first start makes it
    assert main(["keys", "create", "--config", str(cfg), "--park", PARK, "--scope", scope, "--name", "city"]) == 0
    key = capsys.readouterr().out.strip()
    assert re.fullmatch(r"lt_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key)
    assert main(["keys", "list", "--config", str(cfg)]) == 0
    listing = capsys.readouterr().out
    key_id = key.split("_")[1]
    assert key_id in listing and scope in listing and key not in listing and key.split("_", 2)[2] not in listing
    assert main(["keys", "revoke", "--config", str(cfg), key_id]) == 0
    assert main(["keys", "create", "--config", str(cfg), "--park", "nope", "--scope", "read"]) == 2
    monkeypatch.setenv("LT_PW", "a long enough password")
    assert main(["users", "create", "--config", str(cfg), "wang", "--all-parks", "--scope", "read",
                 "--password-env", "LT_PW"]) == 0
    err = capsys.readouterr().err
    assert "a long enough password" not in err


def _enterprise_clients(p, enterprise: str = "ent-a"):
    """A key and a logged-in user bound to one enterprise of PARK, with every scope."""
    with sessions(p.engine).begin() as s:
        _, key = create_key(s, parks=[PARK], scopes=list(Scope), name="tenant", now=NOW, enterprises=[enterprise])
        create_user(s, username="tenant", password="tenant password 1", parks=[PARK], scopes=list(Scope), now=NOW,
                    enterprises=[enterprise])
    by_key = p.client()
    by_key.headers["Authorization"] = f"Bearer {key}"
    by_user = p.client()
    assert by_user.post("/api/v1/session", json={"username": "tenant", "password": "tenant password 1"}).status_code \
        == 200
    return {"key": by_key, "user": by_user}


def test_an_enterprise_credential_sees_only_its_enterprise_on_every_route(platform):
    p = platform
    raised_alarms(p.engine)
    checked = 0
    for kind, client in _enterprise_clients(p).items():
        for method, path in api_routes(p.app):
            if (method, path) in PUBLIC:
                continue
            r = call(client, method, url(path, PARK))
            if (method, path) == ("GET", "/api/v1/session"):  # who am I: allowed
                assert r.status_code == 200 and r.json()["parks"] == [PARK], (kind, r.text)
            elif (method, path) in SHARED:  # its park, with only its own enterprise (test_api_enterprises.py)
                assert r.status_code == 200 and "ent-b" not in r.text, (kind, path, r.text)
                if "{park_id}" in path:  # another park still exactly as one that does not exist
                    foreign = call(client, method, url(path, OTHER))
                    assert foreign.status_code == 404 and "no such park" in foreign.json()["detail"], (kind, path)
            elif "{enterprise_id}" in path:
                assert r.status_code < 400, (kind, method, path, r.status_code, r.text)  # its own enterprise
                other = call(client, method, url(path, PARK).replace("/ent-a", "/ent-b"))
                missing = call(client, method, url(path, PARK).replace("/ent-a", "/no-such-enterprise"))
                assert other.status_code == missing.status_code == 404, (kind, method, path, other.text)
                assert other.json()["detail"] == missing.json()["detail"].replace("no-such-enterprise", "ent-b")
                foreign = call(client, method, url(path, OTHER))  # the same enterprise id in another park
                assert foreign.status_code == 404 and "no such park" in foreign.json()["detail"], (kind, path)
                checked += 1
            elif "{park_id}" in path:  # park-wide: exactly as for a park that does not exist
                missing = call(client, method, url(path, "no-such-park"))
                assert r.status_code == missing.status_code == 404, (kind, method, path, r.status_code, r.text)
                assert r.json()["detail"] == missing.json()["detail"].replace("no-such-park", PARK)
            else:  # outside the parks (park list, frameworks, dead letters)
                assert r.status_code == 404, (kind, method, path, r.status_code, r.text)
                assert "enterprise credential" in r.json()["detail"]
                assert PARK not in r.text
    assert checked >= 4  # the enterprise and its figures, by key and by user
    # a park-level key still sees every enterprise of its park
    assert p.client("read").get(f"/api/v1/parks/{PARK}/enterprises/ent-b/figures").status_code == 200
