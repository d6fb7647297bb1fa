"""Realtime figures and the dashboard stream, computed once per park per change and shared.

A park's data changes when the accounting service writes intervals (their newest revision), when
ingest records new readings (the newest reading time of its meters) and when somebody enters
activity data or factors (the newest activity version). `fingerprint` reads those three in one
indexed query. `Snapshots` keeps, per park, the day/month/year figures for a (revision,
activity, local day) and the power figures for a (newest reading, activity): every realtime
request and every stream reuses them, and a change is computed once, by whichever request
or stream sees it first. A park's fingerprint itself is reused for POLL_S (a quarter second, the
stream's own poll): a change shows within that bound, and a busy park costs one fingerprint
query per quarter second rather than one per request. A write through this process (any request
but GET/HEAD under /api/v1/parks/<park>/) drops its park's fingerprint before its answer starts
(`WritesSeen`), so the writer's next read sees its own change.

`Answers` keeps encoded JSON answers (series; the body and its ETag) by park and query, valid
for the park's (revision, activity) when they were computed: a hundred dashboards asking the same
series cost one computation per change. It is bounded in bytes (least recently used dropped).
Authorisation is not cached with them: every request passes its credential, scope and park
checks (lingtan.api.deps) before an answer is looked up, and the park and query are the key.

The dashboard stream has one `Broadcaster` per park with open streams: a single task polls the
fingerprint (one query per park, however many dashboards are open), builds the stream's payload
once when it moves (and every REFRESH_S, so reading ages keep counting) and hands the same text
to every subscriber's queue.
"""

import asyncio
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lingtan.api import carbon, schemas
from lingtan.api.etag import tag_of
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import ActivityRecord, IntervalEnergy, Latest

POLL_S = 0.25
REFRESH_S = 5.0
ANSWERS_MAX_BYTES = 64 * 2**20  # encoded answers kept per API process


@dataclass(frozen=True)
class Fingerprint:
    revision: int | None  # newest interval revision of the park
    newest_reading: str | None  # newest reading time of its meters
    meters_reporting: int
    activity: int | None  # newest activity-data version (sum over years: any entry moves it)


def fingerprint(session: Session, park: Park) -> Fingerprint:
    revision = select(func.max(IntervalEnergy.revision)).where(IntervalEnergy.park == park.id).scalar_subquery()
    newest = select(func.max(Latest.ts)).where(Latest.park == park.id).scalar_subquery()
    count = select(func.count()).select_from(Latest).where(Latest.park == park.id).scalar_subquery()
    activity = select(func.sum(ActivityRecord.version)).where(ActivityRecord.park == park.id).scalar_subquery()
    r, n, c, a = session.execute(select(revision, newest, count, activity)).one()
    return Fingerprint(r, str(n) if n is not None else None, int(c or 0), a)


@dataclass
class _Cached:
    key: tuple
    value: object


class Snapshots:
    """The shared realtime figures of every park (one per API process)."""

    def __init__(self, fresh_s: float = POLL_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.fresh_s, self.monotonic = fresh_s, monotonic
        self._fingerprints: dict[str, tuple[float, Fingerprint]] = {}
        self._changes: dict[str, int] = {}  # park id -> writes seen (a read begun before one keeps nothing)
        self._periods: dict[str, _Cached] = {}
        self._power: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.computed = 0  # how many snapshot parts were computed (not served from the cache)

    def _lock(self, park_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(park_id, threading.Lock())

    def _get(self, store: dict[str, _Cached], park: Park, key: tuple, compute):
        hit = store.get(park.id)
        if hit is not None and hit.key == key:
            return hit.value
        with self._lock(park.id):  # concurrent requests for a change compute it once
            hit = store.get(park.id)
            if hit is None or hit.key != key:
                hit = store[park.id] = _Cached(key, compute())
                self.computed += 1
            return hit.value

    def fingerprint(self, session: Session, park: Park, fresh: bool = False) -> Fingerprint:
        """The park's fingerprint, read at most `fresh_s` ago (now, with fresh=True: the stream's
        poll, so that the payload it then builds sees what the poll saw)."""
        t = self.monotonic()
        hit = self._fingerprints.get(park.id)
        if not fresh and hit is not None and t - hit[0] < self.fresh_s:
            return hit[1]
        seen = self._changes.get(park.id, 0)
        fp = fingerprint(session, park)
        with self._guard:
            if self._changes.get(park.id, 0) == seen:
                self._fingerprints[park.id] = (t, fp)
        return fp

    def changed(self, park_id: str) -> None:
        """A write to the park went through this process: read its fingerprint again next time."""
        with self._guard:
            self._changes[park_id] = self._changes.get(park_id, 0) + 1
            self._fingerprints.pop(park_id, None)

    def realtime(self, park: Park, session: Session, now: datetime) -> schemas.Realtime:
        fp = self.fingerprint(session, park)
        today = local_day(now, park.zone)
        periods = self._get(self._periods, park, (fp.revision, fp.activity, today),
                            lambda: _periods(park, session, today))
        power, rate, reporting = self._get(self._power, park, (fp.newest_reading, fp.meters_reporting, fp.activity,
                                                                today.year),
                                           lambda: _power(park, session, today.year))
        today_f, month_f, year_f = periods
        return schemas.Realtime(park=park.id, time=now.astimezone(UTC), power=power, carbon_rate_t_per_h=rate,
                                today=today_f, month=month_f, year=year_f, meters_reporting=reporting,
                                meters_total=len(park.meters))


def _periods(park: Park, session: Session, today: date):
    factors = carbon.entered_factors(session, park, today.year)  # today, month and year share the year
    return (carbon.period(session, park, "today", today, today, factors),
            carbon.period(session, park, "month", today.replace(day=1), today, factors),
            carbon.period(session, park, "year", today.replace(month=1, day=1), today, factors))


def _power(park: Park, session: Session, year: int):
    latest = {r.meter: r for r in session.scalars(select(Latest).where(Latest.park == park.id))}
    factors = carbon.entered_factors(session, park, year)
    return carbon.power(park, latest), carbon.carbon_rate_t_per_h(park, latest, year, factors), len(latest)


@dataclass(frozen=True)
class Answer:
    """An encoded JSON answer and its ETag (the same tag lingtan.api.etag gives any JSON body)."""

    body: bytes
    etag: str


class Answers:
    """Encoded answers by (park, query), each valid for the data version it was computed at."""

    def __init__(self, max_bytes: int = ANSWERS_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, tuple[tuple, Answer]] = OrderedDict()
        self._bytes = 0
        self._guard = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(64)]  # the same query is computed once at a time
        self.computed = 0  # answers computed (not served from the cache)

    def _recall(self, key: tuple, version: tuple) -> Answer | None:
        with self._guard:
            hit = self._entries.get(key)
            if hit is None or hit[0] != version:
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def get(self, key: tuple, version: tuple, compute: Callable[[], bytes]) -> Answer:
        """The answer to `key` (its first element the park id) at `version`; computed (the JSON
        body) if not kept or kept for another version."""
        hit = self._recall(key, version)
        if hit is not None:
            return hit
        with self._stripes[hash(key) % len(self._stripes)]:
            hit = self._recall(key, version)
            if hit is not None:
                return hit
            body = compute()
            answer = Answer(body, tag_of(body))
            self.computed += 1
            with self._guard:
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= len(old[1].body)
                if len(body) <= self.max_bytes // 4:  # one huge answer may not push out everything else
                    self._entries[key] = (version, answer)
                    self._bytes += len(body)
                while self._bytes > self.max_bytes:
                    _k, (_v, dropped) = self._entries.popitem(last=False)
                    self._bytes -= len(dropped.body)
            return answer

    @property
    def size_bytes(self) -> int:
        return self._bytes


@dataclass
class Broadcaster:
    """One park's stream payload, built once per change and fanned out to every open stream."""

    park: Park
    build: object  # () -> str, the payload (runs in a thread)
    poll: object  # () -> Fingerprint (runs in a thread)
    subscribers: set[asyncio.Queue] = field(default_factory=set)
    last: str | None = None
    task: asyncio.Task | None = None
    builds: int = 0

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        if self.last is not None:
            queue.put_nowait(self.last)
        self.subscribers.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        seen, sent = None, 0.0
        while self.subscribers:
            fp = await asyncio.to_thread(self.poll)
            now = loop.time()
            if fp != seen or now - sent >= REFRESH_S:
                self.last = await asyncio.to_thread(self.build)
                self.builds += 1
                seen, sent = fp, now
                for queue in list(self.subscribers):
                    if queue.full():  # a slow client gets the newest payload, not a backlog
                        queue.get_nowait()
                    queue.put_nowait(self.last)
            await asyncio.sleep(POLL_S)


class WritesSeen:
    """ASGI middleware: a write request to a park drops the park's cached fingerprint when its
    answer starts (the route has committed by then), so reads after it see the change."""

    def __init__(self, app, snapshots: Snapshots) -> None:
        self.app, self.snapshots = app, snapshots

    async def __call__(self, scope, receive, send) -> None:
        parts = scope.get("path", "").split("/") if scope["type"] == "http" else []
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or parts[1:4] != ["api", "v1", "parks"] \
                or len(parts) < 5:
            await self.app(scope, receive, send)
            return
        park_id = parts[4]

        async def wrapped(message) -> None:
            if message["type"] == "http.response.start":
                self.snapshots.changed(park_id)
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            self.snapshots.changed(park_id)  # and if it failed half-way


def payload(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_body(model) -> bytes:
    """A response model as JSON (pydantic's encoder: compact, UTF-8, times as RFC 3339 UTC)."""
    return model.model_dump_json().encode("utf-8")
