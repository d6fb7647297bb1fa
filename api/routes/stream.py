"""Live push to the dashboard: Server-Sent Events with the park's realtime figures and meters.

Every open stream of a park subscribes to the park's one broadcaster (lingtan.api.live), which
polls the park's fingerprint every quarter second, builds the `update` payload once when it moved
(and at least every 5 s, so reading ages keep counting) and hands it to every stream: a hundred
open dashboards cost about what one does. A comment line every 15 s keeps proxies from closing a
quiet stream. Every 2 s a stream checks its credential again: a revoked key, a disabled user or an
expired session gets an `event: revoked` and the stream ends.
"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from lingtan.api import live
from lingtan.api.deps import Context, CtxDep, ReadPark, still_allowed
from lingtan.api.routes import PARK_ERRORS
from lingtan.api.routes.parks import _gateways, _meters
from lingtan.kernel.park import Park

router = APIRouter(tags=["live"])
PING_S = 15.0
RECHECK_S = 2.0  # how often an open stream checks that its credential is still valid


def _fingerprint(ctx: Context, park: Park) -> live.Fingerprint:
    with ctx.sessions() as s:  # read now, and kept for the realtime figures the payload then builds
        return ctx.snapshots.fingerprint(s, park, fresh=True)


def _snapshot(ctx: Context, park: Park) -> str:
    with ctx.sessions() as s:
        meters = _meters(ctx, park, s)  # once: the gateways are derived from the same list
        return live.payload({
            "realtime": ctx.snapshots.realtime(park, s, ctx.clock()).model_dump(mode="json"),
            "meters": [m.model_dump(mode="json") for m in meters],
            "gateways": [g.model_dump(mode="json") for g in _gateways(meters)],
        })


def broadcaster(ctx: Context, park: Park) -> live.Broadcaster:
    b = ctx.streams.get(park.id)
    if b is None:
        b = ctx.streams[park.id] = live.Broadcaster(park, build=lambda: _snapshot(ctx, park),
                                                    poll=lambda: _fingerprint(ctx, park))
    return b


@router.get("/parks/{park_id}/stream", response_class=StreamingResponse, responses={
    200: {"description": "text/event-stream of `update` events: {realtime, meters, gateways}",
          "content": {"text/event-stream": {}}}, **PARK_ERRORS})
async def stream(request: Request, ctx: CtxDep, park: ReadPark,
                 once: Annotated[bool, Query(description="send one update and close")] = False) -> StreamingResponse:
    """Server-Sent Events for the dashboard (EventSource). Scope `read`."""
    shared = broadcaster(ctx, park)

    async def events():
        queue = shared.subscribe()
        clock = asyncio.get_running_loop().time
        pinged = checked = clock()
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                if clock() - checked >= RECHECK_S:  # a revoked key or a disabled user ends the stream
                    checked = clock()
                    if not await asyncio.to_thread(still_allowed, ctx, request, park.id):
                        yield "event: revoked\ndata: {}\n\n"
                        return
                try:
                    data = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:  # wake up now and then to notice a closed connection
                    if clock() - pinged >= PING_S:
                        yield ": ping\n\n"
                        pinged = clock()
                    continue
                yield f"event: update\ndata: {data}\n\n"
                pinged = clock()
                if once:
                    return
        finally:
            shared.unsubscribe(queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
