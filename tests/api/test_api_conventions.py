"""The API's conventions on a real database (and a real uvicorn server for the rate limit):
every error is RFC 9457 problem details, each key has a request budget (429 with Retry-After),
unmeasured series buckets are null, and exports have clean names and typed, formatted XLSX."""

import dataclasses
import io
from datetime import datetime

import httpx
import pytest
from openpyxl import load_workbook

from lingtan.api.app import create_app
from lingtan.kernel.config import parse_config
from tests.support.api import PARK, serving, two_park_config

PROBLEM = "application/problem+json"


def problem_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM, r.headers
    body = r.json()
    assert body["type"] == "about:blank" and body["status"] == status and isinstance(body["detail"], str)
    assert body["instance"] == r.request.url.path and body["title"]
    return body


def with_rate_limit(platform, per_minute):
    api = platform.config.api.model_copy(update={"rate_limit_per_key": per_minute})
    config = platform.config.model_copy(update={"api": api})
    return dataclasses.replace(platform, config=config,
                               app=create_app(config, platform.engine, clock=lambda: platform.clock[0]))


def test_every_kind_of_error_is_problem_json(platform):
    c = platform.client("read")
    body = problem_of(c.get(f"/api/v1/parks/{PARK}/series", params={"step": "week", "first": "2026-13-01"}), 422)
    assert body["errors"] == [
        {"name": "query.step", "value": "week", "reason": "Input should be '15min', 'hour', 'day' or 'month'"},
        {"name": "query.first", "value": "2026-13-01", "reason": body["errors"][1]["reason"]}]
    assert "query.step = 'week'" in body["detail"] and "month value is outside" in body["errors"][1]["reason"]
    body = problem_of(c.get(f"/api/v1/parks/{PARK}/series", params={"first": "2026-06-15", "last": "2026-06-01"}), 422)
    assert body["detail"] == "last = 2026-06-01: must not be before first = 2026-06-15" and "errors" not in body
    assert "/api/v1/nowhere" in problem_of(c.get("/api/v1/nowhere"), 404)["detail"]
    assert problem_of(c.get("/static/nothing.js"), 404)["detail"] == "no such file: /static/nothing.js"
    r = c.delete("/api/v1/parks")
    assert problem_of(r, 405)["detail"] == "method DELETE is not allowed here; allowed: GET"
    assert r.headers["allow"] == "GET"
    assert "authentication required" in problem_of(platform.client().get("/api/v1/parks"), 401)["detail"]
    assert "lacks scope" in problem_of(c.put(f"/api/v1/parks/{PARK}/activity/2026", json={}), 403)["detail"]
    # a secret is never echoed back, and a missing field has no value
    r = platform.client().post("/api/v1/session", json={"username": "li", "password": 12345678})
    body = problem_of(r, 422)
    assert body["errors"][0]["name"] == "body.password" and "value" not in body["errors"][0]
    assert "12345678" not in r.text


def test_park_404_detail_is_a_sentence(platform):
    body = problem_of(platform.client("read").get("/api/v1/parks/no-such-park"), 404)
    assert "no-such-park" in body["detail"]


def test_the_rate_limit_answers_429_with_retry_after_on_a_real_server(platform):
    limited = with_rate_limit(platform, 3)
    with serving(limited) as base:
        read = {"Authorization": f"Bearer {platform.keys['read']}"}
        other = {"Authorization": f"Bearer {platform.keys['write']}"}
        url = f"{base}/api/v1/parks/{PARK}"
        assert [httpx.get(url, headers=read).status_code for _ in range(3)] == [200, 200, 200]
        r = httpx.get(url, headers=read)
        body = problem_of(r, 429)
        assert 1 <= int(r.headers["retry-after"]) <= 20  # one token per 20 s at 3 a minute
        assert r.headers["ratelimit-limit"] == "3" and r.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
        assert "at most 3 requests per minute" in body["detail"] and "api.rate_limit_per_key" in body["detail"]
        assert platform.keys["read"] not in r.text  # names the key by id, never by its secret
        assert httpx.get(f"{base}/api/v1/session", headers=read).status_code == 429  # every keyed route counts
        assert httpx.get(url, headers=other).status_code == 200  # per key: another key is not held up
        assert all(httpx.get(f"{base}/api/v1/health").status_code == 200 for _ in range(5))  # exempt
        assert all(httpx.get(f"{base}/static/dashboard.js").status_code == 200 for _ in range(5))


def test_no_rate_limit_when_it_is_null(platform):
    c = with_rate_limit(platform, None).client("read")
    assert all(c.get(f"/api/v1/parks/{PARK}").status_code in (200, 304) for _ in range(30))


def test_the_token_bucket_refills_evenly():
    from lingtan.api.limits import TokenBuckets
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])
    assert [buckets.take(("key", "a")) for _ in range(60)] == [None] * 60  # a minute's worth at once
    assert buckets.take(("key", "a")) == 1 and buckets.take(("key", "b")) is None
    now[0] = 2.5  # 2.5 tokens back
    assert [buckets.take(("key", "a")) for _ in range(3)] == [None, None, 1]
    assert buckets.reset_s(("key", "a")) == 60


def test_the_rate_limit_setting_is_checked():
    data = two_park_config("sqlite:///x.db").model_dump(mode="json")
    data["api"]["rate_limit_per_key"] = 0
    with pytest.raises(Exception, match="rate_limit_per_key") as e:
        parse_config(data, "test")
    assert "greater than or equal to 1" in str(e.value)


def test_unmeasured_series_buckets_are_null(platform):
    hours = platform.client("read").get(f"/api/v1/parks/{PARK}/series", params={"step": "hour"}).json()
    measured, future = hours["points"][13], hours["points"][14]  # 14:00 local has not begun
    assert measured["values"]["grid_import_kwh"] == pytest.approx(400)
    assert future["completeness"] == 0.0 and set(future["values"]) == set(hours["units"])
    assert all(v is None for v in future["values"].values()), future
    meter = platform.client("read").get(f"/api/v1/parks/{PARK}/series",
                                        params={"scope": "meter", "id": "bess", "step": "hour"}).json()
    assert meter["points"][0]["values"]["energy_import_kwh"] == 40
    assert meter["points"][23]["values"] == {"energy_export_kwh": None, "energy_import_kwh": None}


def test_export_names_do_not_repeat_themselves(platform):
    c = platform.client("read")
    r = c.get(f"/api/v1/parks/{PARK}/exports/series", params={"step": "hour", "first": "2026-06-15"})
    assert 'filename="demo-park-series-hour-2026-06-15.csv"' in r.headers["content-disposition"]
    r = c.get(f"/api/v1/parks/{PARK}/exports/series", params={
        "scope": "meter", "id": "grid-main", "step": "day", "first": "2026-06-01", "last": "2026-06-15"})
    assert 'filename="demo-park-meter-grid-main-day-2026-06-01-2026-06-15.csv"' in r.headers["content-disposition"]
    future = r.text.splitlines()[-1].split(",")  # CSV: an unmeasured value is an empty cell, not 0
    assert future[-1] == "" or float(future[-1]) > 0


def test_xlsx_series_has_real_types_formats_and_frozen_headers(platform):
    c = platform.client("read")
    r = c.get(f"/api/v1/parks/{PARK}/exports/series", params={"format": "xlsx", "step": "hour"},
              headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["开始 (Asia/Shanghai)", "结束 (Asia/Shanghai)", "数据完整度"]
    assert "电网购电 [kWh]" in header and "碳排放 [tCO2]" in header
    assert ws.freeze_panes == "A2"
    grid = header.index("电网购电 [kWh]") + 1
    first, future = ws[2], ws[2 + 14]  # 00:00 local; 14:00 local has not begun
    assert first[0].value == datetime(2026, 6, 15, 0, 0) and first[0].is_date  # park-local wall clock
    assert first[0].number_format == "yyyy-mm-dd hh:mm" and first[1].value == datetime(2026, 6, 15, 1, 0)
    assert first[2].value == 1 and first[2].number_format == "0.0%"
    assert first[grid - 1].value == 400 and first[grid - 1].data_type == "n"
    assert first[grid - 1].number_format == "#,##0.000"
    assert future[grid - 1].value is None
    co2 = first[header.index("碳排放 [tCO2]")].value
    assert isinstance(co2, float) and len(repr(co2).split(".")[1]) <= 9  # no 17-digit noise
    assert ws.column_dimensions["A"].width >= 18 and ws.column_dimensions["D"].width >= 16
    en = load_workbook(io.BytesIO(c.get(f"/api/v1/parks/{PARK}/exports/series", params={"format": "xlsx"},
                                        headers={"Accept-Language": "en-GB"}).content)).active
    assert [c.value for c in en[1]][:3] == ["start (Asia/Shanghai)", "end (Asia/Shanghai)", "completeness"]
    # naming neither language: XLSX, for people, in Chinese as the dashboard and the reports
    plain = load_workbook(io.BytesIO(c.get(f"/api/v1/parks/{PARK}/exports/series",
                                           params={"format": "xlsx"}).content)).active
    assert [c.value for c in plain[1]][:3] == ["开始 (Asia/Shanghai)", "结束 (Asia/Shanghai)", "数据完整度"]
    assert "grid_import_kwh [kWh]" in [c.value for c in en[1]]


def test_xlsx_indicators_in_the_request_language(platform):
    c = platform.client("read")
    r = c.get(f"/api/v1/parks/{PARK}/exports/indicators/2026", params={"format": "xlsx"},
              headers={"Accept-Language": "en;q=0.5, zh"})
    assert "accept-language" in r.headers.get("vary", "").lower()  # caches keep one answer per language
    ws = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in ws[1]]
    assert header[:5] == ["评价体系", "年份", "指标编号", "序号", "指标名称"] and ws.freeze_panes == "A2"
    row = ws[2]
    assert row[1].value == 2026 and row[1].data_type == "n"
    share = row[header.index("数据完整度")]
    assert share.number_format == "0.0%" and isinstance(share.value, int | float)
    en = load_workbook(io.BytesIO(c.get(f"/api/v1/parks/{PARK}/exports/indicators/2026",
                                        params={"format": "xlsx"}, headers={"Accept-Language": "fr, en-GB"}).content))
    assert [c.value for c in en.active[1]][:3] == ["framework", "year", "id"]


def test_an_overloaded_server_answers_503_problem_json_with_retry_after():
    """The in-flight limit on a real uvicorn server: one slot, held; the next request waits at most
    max_wait_s and then gets 503 problem details instead of waiting without end."""
    import asyncio
    import threading

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from lingtan.api.limits import InFlightLimit
    from lingtan.cli.runner import api_server
    from tests.support import free_port, wait_for

    release, entered = threading.Event(), threading.Event()

    async def slow(request):
        entered.set()
        while not release.is_set():
            await asyncio.sleep(0.02)
        return PlainTextResponse("done")

    app = InFlightLimit(Starlette(routes=[Route("/api/v1/slow", slow)]), limit=1, max_wait_s=0.3)
    port = free_port()
    server = api_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, message="uvicorn started")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/slow"
        holder: dict = {}
        first = threading.Thread(target=lambda: holder.update(r=httpx.get(url, timeout=30)))
        first.start()
        assert entered.wait(10), "the first request in flight"
        r = httpx.get(url, timeout=30)
        body = problem_of(r, 503)
        assert r.headers["retry-after"] == "5" and "overloaded" in body["detail"] and "0.3 s" in body["detail"]
        release.set()
        first.join(10)
        assert holder["r"].status_code == 200 and holder["r"].text == "done"
        assert httpx.get(url, timeout=30).status_code == 200  # the slot came back
    finally:
        release.set()
        server.should_exit = True
        thread.join(10)
