"""The REST API v1 and the dashboard: the app factory wiring routes, auth and static files.

Routes live in api/routes/ (one module per noun) and stay thin: parse, call the core or a
store module, return a public schema. docs/api.md documents every route.
"""

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from lingtan.api.deps import Context
from lingtan.api.etag import ETagMiddleware
from lingtan.api.limits import InFlightLimit
from lingtan.api.live import WritesSeen
from lingtan.api.routes import activity, carbon, exports, frameworks, indicators, ingest, meta, parks, stream, sync
from lingtan.api.routes import alarms as alarm_routes
from lingtan.kernel.config import Config
from lingtan.store.db import sessions

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)

DESCRIPTION = """Energy and carbon of zero-carbon industrial parks (零碳园区), for park dashboards and
the city carbon platform. Authenticate with `Authorization: Bearer <API key>` (keys are made with
`lingtan keys create`) or a dashboard session cookie. A credential sees only its own parks:
another park answers 404, exactly like a park that does not exist. Times are UTC (RFC 3339, `Z`);
calendar periods are park-local. JSON GETs carry an ETag and honour If-None-Match (304).
See docs/api.md for scopes, cursors and limits."""


def create_app(config: Config, engine: Engine, clock=lambda: datetime.now(UTC)) -> FastAPI:
    app = FastAPI(title="Lingtan 零碳 API", version="1", summary="Energy and carbon of zero-carbon parks",
                  description=DESCRIPTION, docs_url="/api/docs", redoc_url=None, openapi_url="/api/v1/openapi.json")
    app.state.ctx = Context(config=config, engine=engine, sessions=sessions(engine), clock=clock,
                            parks={p.id: p for p in config.parks})
    if config.api.demo_open:
        log.warning("api.demo_open is on: requests without credentials may read and write every park. "
                    "Demo only; never on a network others can reach.")
    for module in (meta, parks, carbon, indicators, frameworks, activity, sync, exports, ingest, stream, alarm_routes):
        app.include_router(module.router, prefix="/api/v1")
    app.add_middleware(ETagMiddleware)
    app.add_middleware(InFlightLimit)
    app.add_middleware(WritesSeen, snapshots=app.state.ctx.snapshots)
    if config.api.trusted_proxies:  # the scheme and client address as the proxy saw them, from it only
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.api.trusted_proxies))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    allowed: list[tuple[re.Pattern, list[str]]] = []

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        # Starlette's Allow names only the first route of the path; list every method of the path
        if not allowed:
            for path, ops in app.openapi()["paths"].items():
                pattern = re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$")
                allowed.append((pattern, sorted(m.upper() for m in ops)))
        methods = next((m for rx, m in allowed if rx.match(request.url.path)), [])
        return JSONResponse({"detail": f"method {request.method} is not allowed here; allowed: {', '.join(methods)}"},
                            405, headers={"Allow": ", ".join(methods)})

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app
