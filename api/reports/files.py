"""A built report as a file: XLSX or PDF bytes, its media type, a clean file name and a content digest.

The digest covers everything the report states except the moment it was generated, so it is
the report's data version: the API's ETag, the PDF cache key, and what a filing records. PDF
renders (headless Chromium, lingtan.api.reports.pdf) run one at a time per process and once per
cache key (digest and language): identical requests wait for the one render and share it, and a
render is cached by digest. A request that cannot get its turn within `PDF_WAIT_S`, or that finds
`PDF_QUEUE` other PDFs (or `PDF_WAITERS` requests) already waiting, is answered 503 (Retry-After).
"""

import dataclasses
import hashlib
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Literal

from lingtan.api.reports.model import Report

Format = Literal["xlsx", "pdf"]
MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}
PDF_WAIT_S = 60.0
PDF_CACHE = 16  # renders kept
PDF_QUEUE = 4  # distinct PDFs that may wait behind the one rendering
PDF_WAITERS = 16  # requests that may wait for a PDF in all (each holds a worker thread)

_pdf_turn = threading.BoundedSemaphore(1)
_pdf_cache: OrderedDict[str, bytes] = OrderedDict()
_cache_guard = threading.Lock()
_flights: dict[str, "_Flight"] = {}  # cache key -> the render in progress or queued


class PdfUnavailable(RuntimeError):
    """No PDF can be made here now (no renderer, no Chromium, or busy); the message says why."""


def digest(report: Report) -> str:
    """SHA-256 of the report's content without its generation time."""
    fixed = dataclasses.replace(report, generated_at=datetime(2000, 1, 1, tzinfo=UTC))
    return hashlib.sha256(repr(fixed).encode()).hexdigest()


def filename(report: Report, period: str, fmt: Format, lang: str, enterprise: str | None = None) -> str:
    return filename_of(report.park_id, report.kind, period, fmt, lang, enterprise)


def filename_of(park: str, kind: str, period: str, fmt: Format, lang: str, enterprise: str | None = None) -> str:
    """`demo-park-park-monthly-2026-11-zh.xlsx`, `demo-park-keu-monthly-2026-11-ent-b-zh.pdf`."""
    parts = [park, kind, period, *([enterprise] if enterprise else []), lang]
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts)) + f".{fmt}"


def render(report: Report, fmt: Format, lang: str) -> bytes:
    if fmt == "xlsx":
        from lingtan.api.reports.xlsx import render_xlsx
        return render_xlsx(report, lang)
    return _pdf(report, lang)


@dataclasses.dataclass
class _Flight:
    """One PDF being made (or waiting for its turn); every request for the same key waits on it."""

    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    body: bytes | None = None
    error: PdfUnavailable | None = None
    waiters: int = 0


def pending() -> tuple[int, int]:
    """(PDFs being made or waiting for their turn, requests waiting for one): for tests and logs."""
    with _cache_guard:
        return len(_flights), sum(f.waiters for f in _flights.values())


def _pdf(report: Report, lang: str) -> bytes:
    """Single flight per cache key: the first request renders, identical ones wait for its result.
    At most `PDF_QUEUE` distinct PDFs wait behind the one rendering and at most `PDF_WAITERS`
    requests wait in all; past that the answer is PdfUnavailable (503) at once."""
    key = f"{digest(report)}:{lang}"
    with _cache_guard:
        hit = _pdf_cache.get(key)
        if hit is not None:
            _pdf_cache.move_to_end(key)
            return hit
        flight = _flights.get(key)
        owner = flight is None
        busy = sum(f.waiters for f in _flights.values()) >= PDF_WAITERS or (owner and len(_flights) > PDF_QUEUE)
        if busy:
            raise PdfUnavailable(f"format = 'pdf': {len(_flights)} PDFs are being made or queued here; "
                                 "try again shortly")
        if owner:
            flight = _flights[key] = _Flight()
        flight.waiters += 1
    try:
        if owner:
            _make(flight, report, lang, key)
        elif not flight.done.wait(PDF_WAIT_S + 120):
            raise PdfUnavailable("format = 'pdf': the same PDF has been rendering for too long; try again shortly")
    finally:
        with _cache_guard:
            flight.waiters -= 1
    if flight.error is not None:
        raise PdfUnavailable(str(flight.error))
    assert flight.body is not None
    return flight.body


def _make(flight: _Flight, report: Report, lang: str, key: str) -> None:
    """Render (in turn with other PDFs) and publish the result to the flight's waiters and the cache."""
    try:
        try:
            from lingtan.api.reports.pdf import PdfError, render_pdf
        except ImportError as exc:
            raise PdfUnavailable(f"format = 'pdf': the PDF renderer is not installed here ({exc}); "
                                 "use format = 'xlsx'") from None
        if not _pdf_turn.acquire(timeout=PDF_WAIT_S):
            raise PdfUnavailable(f"format = 'pdf': other PDFs have been rendering for over {PDF_WAIT_S:.0f} s; "
                                 "try again shortly")
        try:
            flight.body = render_pdf(report, lang)
        except PdfError as exc:
            raise PdfUnavailable(f"format = 'pdf': {exc}") from exc
        finally:
            _pdf_turn.release()
    except PdfUnavailable as exc:
        flight.error = exc
    except BaseException as exc:
        flight.error = PdfUnavailable(f"format = 'pdf': the render failed ({type(exc).__name__})")
        raise
    finally:
        with _cache_guard:
            if flight.body is not None:
                _pdf_cache[key] = flight.body
                while len(_pdf_cache) > PDF_CACHE:
                    _pdf_cache.popitem(last=False)
            del _flights[key]
        flight.done.set()
