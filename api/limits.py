"""Back-pressure: at most `MAX_IN_FLIGHT` API requests are processed at once; the rest wait, for
at most `MAX_WAIT_S` (then 503 with Retry-After: the server is overloaded).

Sync routes run in a thread pool of 40 and hold a database connection from their first query
until their dependencies close; serialising the answer needs a thread again. Without a bound,
100 concurrent requests can fill the thread pool with requests waiting for connections that are
held by requests waiting for a thread. Keeping in-flight requests below both the thread pool
and the connection pool (lingtan.store.db) makes that impossible. Not counted: the SSE stream
(it holds neither between its short polls) and logins, whose password checks queue in their own
small pool (lingtan.api.throttle) so that a storm of logins cannot take the slots of keyed requests.

Fairness: each caller (API key or dashboard user) has a token bucket of `api.rate_limit_per_key`
requests per minute (`per_key`, a dependency of every keyed route); past it, 429 with Retry-After.
"""

import asyncio
import json
import math
import threading
import time
import weakref
from collections import OrderedDict

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from lingtan.api.deps import PrincipalDep
from lingtan.api.schemas import PROBLEM_MEDIA, problem_body

MAX_IN_FLIGHT = 32  # < anyio's 40 worker threads, < the engine's 50 connections
MAX_WAIT_S = 30.0  # a request that waited this long for a slot answers 503 (the server is overloaded)
RETRY_AFTER_S = 5


class InFlightLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_IN_FLIGHT, max_wait_s: float = MAX_WAIT_S) -> None:
        self.app = app
        self.limit = limit
        self.max_wait_s = max_wait_s
        # one semaphore per event loop (a server has one; test clients may start several)
        self._semaphores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith("/stream") or (
                scope["method"] == "POST" and scope["path"].endswith("/session")):  # logins: their own pool
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        try:
            async with asyncio.timeout(self.max_wait_s):
                await semaphore.acquire()
        except TimeoutError:
            await self._unavailable(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            semaphore.release()

    async def _unavailable(self, scope: Scope, send: Send) -> None:
        detail = (f"the server is overloaded: no request slot came free within {self.max_wait_s:g} s; "
                  f"try again in {RETRY_AFTER_S} s")
        body = json.dumps(problem_body(503, detail, scope["path"])).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", PROBLEM_MEDIA.encode()), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode())]})
        await send({"type": "http.response.body", "body": body})


# -- requests per API key (and per dashboard user) -----------------------------------------
class TokenBuckets:
    """A token bucket per caller: `per_minute` tokens, refilled evenly over a minute, one per request.
    A caller may burst a full minute's worth, then goes at the refill rate. The buckets live in the
    API process (behind a load balancer each process counts its own share)."""

    def __init__(self, per_minute: int, clock=time.monotonic, size: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.clock, self.size = clock, size
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, caller: tuple[str, str]) -> int | None:
        """One request of `caller`: None if it may go now, else the seconds until its next token."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.per_second)
            allowed = tokens >= 1.0
            self._buckets[caller] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.size:  # bounded memory: the least recently seen go (full again)
                self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1.0 - tokens) / self.per_second))

    def reset_s(self, caller: tuple[str, str]) -> int:
        """Seconds until the caller's bucket is full again."""
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.capacity, self.clock()))
        tokens = min(self.capacity, tokens + (self.clock() - at) * self.per_second)
        return math.ceil((self.capacity - tokens) / self.per_second)


def per_key(request: Request, principal: PrincipalDep) -> None:
    """Dependency of every keyed route: the caller's request budget (api.rate_limit_per_key), 429
    with Retry-After and RateLimit-* headers past it. The demo caller (api.demo_open) counts as one."""
    state = request.app.state
    buckets: TokenBuckets | None = getattr(state, "rate_limits", None)
    if buckets is None:
        return
    caller = (principal.kind, principal.name)
    wait = buckets.take(caller)
    if wait is None:
        return
    limit = int(buckets.capacity)
    raise HTTPException(429, f"rate limit of {principal.kind} {principal.name!r} reached: at most {limit} requests "
                        f"per minute (api.rate_limit_per_key); try again in {wait} s",
                        headers={"Retry-After": str(wait), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0",
                                 "RateLimit-Reset": str(buckets.reset_s(caller))})
