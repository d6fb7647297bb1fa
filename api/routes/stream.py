"""Live push to the dashboard: Server-Sent Events with the park's realtime figures and meters.

The stream polls two cheap fingerprints (newest reading, newest interval revision) every
quarter second and sends a full `update` event when either moved, and at least every 5 s
(so reading ages keep counting); a comment line every 15 s keeps proxies from closing it.
"""

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from lingtan.kernel.park import Park
from lingtan.api import carbon
from lingtan.api.deps import Context, CtxDep, ReadPark
from lingtan.store.models import IntervalEnergy, Latest
from lingtan.api.routes import PARK_ERRORS
from lingtan.api.routes.parks import _meters, list_gateways

router = APIRouter(tags=["live"])
POLL_S = 0.25
REFRESH_S = 5.0
PING_S = 15.0


def _fingerprint(ctx: Context, park: Park) -> tuple:
    with ctx.sessions() as s:
        latest = s.execute(select(func.max(Latest.ts), func.count()).where(Latest.park == park.id)).one()
        revision = s.execute(select(func.max(IntervalEnergy.revision)).where(IntervalEnergy.park == park.id)).scalar()
    return (str(latest[0]), latest[1], revision)


def _snapshot(ctx: Context, park: Park) -> str:
    with ctx.sessions() as s:
        data = {
            "realtime": carbon.realtime(park, s, ctx.clock()).model_dump(mode="json"),
            "meters": [m.model_dump(mode="json") for m in _meters(ctx, park, s)],
            "gateways": [g.model_dump(mode="json") for g in list_gateways(ctx, park, s)],
        }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@router.get("/parks/{park_id}/stream", response_class=StreamingResponse, responses={
    200: {"description": "text/event-stream of `update` events: {realtime, meters, gateways}",
          "content": {"text/event-stream": {}}}, **PARK_ERRORS})
async def stream(request: Request, ctx: CtxDep, park: ReadPark,
                 once: Annotated[bool, Query(description="send one update and close")] = False) -> StreamingResponse:
    """Server-Sent Events for the dashboard (EventSource). Scope `read`."""

    async def events():
        loop = asyncio.get_running_loop()
        last, sent, pinged = None, 0.0, loop.time()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            fingerprint = await asyncio.to_thread(_fingerprint, ctx, park)
            now = loop.time()
            if fingerprint != last or now - sent >= REFRESH_S:
                data = await asyncio.to_thread(_snapshot, ctx, park)
                yield f"event: update\ndata: {data}\n\n"
                last, sent, pinged = fingerprint, now, now
                if once:
                    return
            elif now - pinged >= PING_S:
                yield ": ping\n\n"
                pinged = now
            await asyncio.sleep(POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
