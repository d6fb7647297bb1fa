"""Back-pressure: at most `MAX_IN_FLIGHT` API requests are processed at once; the rest wait.

Sync routes run in a thread pool of 40 and hold a database connection from their first query
until their dependencies close; serialising the answer needs a thread again. Without a bound,
100 concurrent requests can fill the thread pool with requests waiting for connections that are
held by requests waiting for a thread. Keeping in-flight requests below both the thread pool
and the connection pool (lingtan.store.db) makes that impossible. Not counted: the SSE stream
(it holds neither between its short polls) and logins, whose password checks queue in their own
small pool (lingtan.api.throttle) so that a storm of logins cannot take the slots of keyed requests.
"""

import asyncio
import weakref

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_IN_FLIGHT = 32  # < anyio's 40 worker threads, < the engine's 50 connections


class InFlightLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.limit = limit
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
        async with semaphore:
            await self.app(scope, receive, send)
