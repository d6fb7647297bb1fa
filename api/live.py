"""Realtime figures and the dashboard stream, computed once per park per change and shared.

A park's data changes when the accounting service writes intervals (their newest revision), when
ingest records new readings (the newest reading time of its meters) and when somebody enters
activity data or factors (the newest activity version). `fingerprint` reads those three in one
indexed query. `Snapshots` keeps, per park, the day/month/year figures for a (revision,
activity, local day) and the power figures for a (newest reading, activity): every realtime
request and every stream reuses them, and a change is computed once, by whichever request
or stream sees it first.

The dashboard stream has one `Broadcaster` per park with open streams: a single task polls the
fingerprint (one query per park, however many dashboards are open), builds the stream's payload
once when it moves (and every REFRESH_S, so reading ages keep counting) and hands the same text
to every subscriber's queue.
"""

import asyncio
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lingtan.api import carbon, schemas
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import ActivityRecord, IntervalEnergy, Latest

POLL_S = 0.25
REFRESH_S = 5.0


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

    def __init__(self) -> None:
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

    def realtime(self, park: Park, session: Session, now: datetime) -> schemas.Realtime:
        fp = fingerprint(session, park)
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


def payload(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
