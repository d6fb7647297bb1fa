"""Reports under concurrent requests on a real uvicorn server: identical PDF requests share one
render and hold no DB connection while they wait, a full PDF queue answers 503 at once, and
concurrent filings of one report give one filing and no error (SQLite and PostgreSQL)."""

import threading
from datetime import UTC, datetime

import httpx
import pytest

import lingtan.api.reports.pdf as pdf
from lingtan.api.reports import files
from lingtan.store.db import sessions
from lingtan.store.models import AuditEntry, KeuReport
from tests.support import wait_for
from tests.support.api import PARK, make_platform, serving

API = f"/api/v1/parks/{PARK}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    p = make_platform(f"sqlite:///{tmp_path_factory.mktemp('reports-conc')}/p.db")
    with serving(p) as base:
        yield p, base
    p.engine.dispose()


@pytest.fixture
def gated(monkeypatch):
    """render_pdf wrapped: each call is counted and held until `gate` is set. The park-monthly zh
    report goes to the real Chromium; the others (queue fillers) return a stand-in, to keep it quick."""
    files._pdf_cache.clear()
    gate, calls, entered = threading.Event(), [], [0]
    real_render, real_files_render = pdf.render_pdf, files.render

    def render_pdf(report, lang):
        calls.append((report.kind, lang))
        assert gate.wait(30)
        return real_render(report, lang) if (report.kind, lang) == ("park-monthly", "zh") else b"%PDF-1.4 stand-in"

    def render(report, fmt, lang):
        entered[0] += 1
        return real_files_render(report, fmt, lang)

    monkeypatch.setattr(pdf, "render_pdf", render_pdf)
    monkeypatch.setattr(files, "render", render)
    yield gate, calls, entered
    gate.set()
    files._pdf_cache.clear()  # no stand-in stays cached for later tests


def _get(base, key, path, params, out=None, timeout=60.0):
    r = httpx.get(f"{base}{API}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
    if out is not None:
        out.append(r)
    return r


def test_identical_pdf_requests_share_one_render_and_hold_no_connection(served, gated):
    p, base = served
    gate, calls, entered = gated
    got: list[httpx.Response] = []
    ask = {"period": "2026-06", "format": "pdf"}
    threads = [threading.Thread(target=_get, args=(base, p.keys["read"], "/reports/park-monthly", ask, got))
               for _ in range(5)]
    for t in threads:
        t.start()
    wait_for(lambda: entered[0] == 5 and calls, message="five requests at the PDF, one render started")
    # all five wait for the one render (held by the gate): none holds a DB connection, and the API answers
    assert p.engine.pool.checkedout() == 0
    assert _get(base, p.keys["read"], "", {}, timeout=10).status_code == 200
    assert not gate.is_set()  # so the park answer came while the PDFs were waiting
    gate.set()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in got] == [200] * 5
    assert len({r.content for r in got}) == 1 and got[0].content.startswith(b"%PDF")
    assert calls == [("park-monthly", "zh")]


def test_a_full_pdf_queue_answers_503_at_once(served, gated):
    p, base = served
    gate, calls, entered = gated
    got: list[httpx.Response] = []
    key = p.keys["read"]
    fillers = [("/reports/park-monthly", {"period": "2026-06", "lang": "en"}),
               ("/reports/keu-monthly", {"period": "2026-06", "enterprise": "ent-a"}),
               ("/reports/keu-monthly", {"period": "2026-06", "enterprise": "ent-a", "lang": "en"}),
               ("/reports/annex4-annual", {"period": "2026"}),
               ("/reports/annex4-annual", {"period": "2026", "lang": "en"})]  # 1 rendering + PDF_QUEUE waiting
    assert len(fillers) == 5  # files.PDF_QUEUE = 4 may wait behind the one rendering
    threads = [threading.Thread(target=_get, args=(base, key, path, {**params, "format": "pdf"}, got))
               for path, params in fillers]
    for t in threads:
        t.start()
    pending = getattr(files, "pending", lambda: (len(fillers), 0))
    wait_for(lambda: entered[0] == len(fillers) and pending()[0] == len(fillers), message="PDF queue full")
    r = _get(base, key, "/reports/keu-monthly", {"period": "2026-06", "enterprise": "ent-b", "format": "pdf"},
             timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "10", r.text
    assert r.headers["content-type"].startswith("application/problem+json") and "format = 'pdf'" in r.json()["detail"]
    gate.set()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in got) == [200] * len(fillers)
    assert len(calls) == len(fillers)


@pytest.fixture
def filing_platform(db_url):
    p = make_platform(db_url)
    p.clock[0] = datetime(2026, 7, 2, 6, 0, tzinfo=UTC)
    yield p
    p.engine.dispose()


def test_concurrent_filings_of_one_report_file_it_once(filing_platform):
    """Six simultaneous submits of ent-a's June report: all 200, exactly one new, six audit entries
    that all name the one first filing."""
    p = filing_platform
    url = f"{API}/enterprises/ent-a/reports/keu-monthly/2026-06/submit"
    barrier, got = threading.Barrier(6), []

    def one(base):
        barrier.wait()
        got.append(httpx.post(f"{base}{url}", headers={"Authorization": f"Bearer {p.keys['all']}"}, timeout=60))

    with serving(p) as base:
        threads = [threading.Thread(target=one, args=(base,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert [r.status_code for r in got] == [200] * 6, [r.text for r in got if r.status_code != 200]
    assert sorted(r.headers["X-Changed"] for r in got) == ["false"] * 5 + ["true"]
    assert len({r.json()["submitted_at"] for r in got}) == 1
    with sessions(p.engine)() as s:
        rows = s.query(KeuReport).all()
        audit = [a for a in s.query(AuditEntry).all() if a.action == "keu_report.submit"]
    assert len(rows) == 1 and len(audit) == 6
    first = {datetime.fromisoformat(r.json()["submitted_at"]) for r in got}
    assert {datetime.fromisoformat(a.after["first_filed_at"]) for a in audit} == first
    assert sorted(a.changes[0]["before"] is None for a in audit) == [False] * 5 + [True]
