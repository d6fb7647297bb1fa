"""The REST API v1 and the dashboard: the app factory wiring routes, auth and static files.

Routes live in api/routes/ (one module per noun) and stay thin: parse, call the core or a
store module, return a public schema. docs/api.md documents every route.
"""

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from lingtan.api.deps import Context
from lingtan.api.etag import ETagMiddleware
from lingtan.api.limits import InFlightLimit, TokenBuckets, per_key
from lingtan.api.live import WritesSeen
from lingtan.api.routes import activity, carbon, exports, frameworks, indicators, ingest, meta, parks, stream, sync
from lingtan.api.routes import alarms as alarm_routes
from lingtan.api.routes import enterprises as enterprise_routes
from lingtan.api.routes import reports as report_routes
from lingtan.api.schemas import PROBLEM_MEDIA, Problem, problem_body
from lingtan.kernel.config import Config
from lingtan.store.db import sessions

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)

DESCRIPTION = """Energy and carbon of zero-carbon industrial parks (零碳园区), for park dashboards and
the city carbon platform. Authenticate with `Authorization: Bearer <API key>` (keys are made with
`lingtan keys create`) or a dashboard session cookie. A credential sees only its own parks:
another park answers 404, exactly like a park that does not exist. Times are UTC (RFC 3339, `Z`);
calendar periods are park-local. JSON GETs carry an ETag and honour If-None-Match (304).
Every error is `application/problem+json` (RFC 9457). Each API key or dashboard user may make
`api.rate_limit_per_key` requests per minute (default 600); past it, 429 with Retry-After.
See docs/api.md for scopes, cursors, limits and the versioning and deprecation policy."""
SECRET_FIELDS = ("password", "secret", "token", "key")  # values never echoed in an error
_RETRY = {"Retry-After": {"required": True, "schema": {"type": "integer"}, "description": "seconds to wait"}}
_LIMITS = {429: {"description": "this key's or user's requests per minute (api.rate_limit_per_key) are used up; "
                 "see Retry-After", "headers": _RETRY},
           503: {"description": "overloaded: no request slot came free within 30 s (lingtan.api.limits); "
                 "see Retry-After", "headers": _RETRY}}


def create_app(config: Config, engine: Engine, clock=lambda: datetime.now(UTC)) -> FastAPI:
    app = FastAPI(title="Lingtan 零碳 API", version="1", summary="Energy and carbon of zero-carbon parks",
                  description=DESCRIPTION, docs_url="/api/docs", redoc_url=None, openapi_url="/api/v1/openapi.json")
    app.state.ctx = Context(config=config, engine=engine, sessions=sessions(engine), clock=clock,
                            parks={p.id: p for p in config.parks})
    if config.api.demo_open:
        log.warning("api.demo_open is on: requests without credentials may read and write every park. "
                    "Demo only; never on a network others can reach.")
    if config.api.rate_limit_per_key is not None:
        app.state.rate_limits = TokenBuckets(config.api.rate_limit_per_key)
    app.include_router(meta.router, prefix="/api/v1")  # health and login: no budget; /session's GET has its own
    for module in (parks, carbon, indicators, frameworks, activity, sync, exports, ingest, stream, alarm_routes,
                   enterprise_routes, report_routes):
        app.include_router(module.router, prefix="/api/v1", dependencies=[Depends(per_key)], responses=_LIMITS)
    app.add_middleware(ETagMiddleware)
    app.add_middleware(InFlightLimit)
    app.add_middleware(WritesSeen, snapshots=app.state.ctx.snapshots)
    if config.api.trusted_proxies:  # the scheme and client address as the proxy saw them, from it only
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.api.trusted_proxies))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    allowed: list[tuple[re.Pattern, list[str]]] = []

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = (f"no route {request.url.path}: see /api/v1/openapi.json for the routes of API v1"
                      if request.url.path.startswith("/api/") else f"no such file: {request.url.path}")
        if exc.status_code == 405:
            # Starlette's Allow names only the first route of the path; list every method of the path
            if not allowed:
                for path, ops in app.openapi()["paths"].items():
                    pattern = re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$")
                    allowed.append((pattern, sorted(m.upper() for m in ops)))
            methods = next((m for rx, m in allowed if rx.match(request.url.path)), [])
            detail = f"method {request.method} is not allowed here; allowed: {', '.join(methods)}"
            headers["Allow"] = ", ".join(methods)
        return problem(request, exc.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [field_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e['name']}" + (f" = {e['value']!r}" if "value" in e else "") + f": {e['reason']}"
                           for e in errors)
        return problem(request, 422, detail, errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return problem(request, 500, "an unexpected error; the server's log has the details")

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = problem_spec(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)  # asked for by browsers and tools that ignore the <link>
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    return app


def problem(request: Request, status: int, detail: str, headers: dict | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details answer (lingtan.api.schemas.problem_body)."""
    return JSONResponse(problem_body(status, detail, request.url.path, **extra), status, headers=headers,
                        media_type=PROBLEM_MEDIA)


def field_error(e: dict) -> dict:
    """One pydantic error as {name, value, reason}: `query.step`, the value sent, what is accepted.
    No value for a missing field, a structured value (a body) or a secret."""
    loc = [str(p) for p in e.get("loc", ())]
    out: dict[str, Any] = {"name": ".".join(loc) or "request"}
    value = e.get("input")
    secret = any(word in part.lower() for part in loc for word in SECRET_FIELDS)
    if e.get("type") != "missing" and not secret and isinstance(value, str | int | float | bool):
        out["value"] = value if not isinstance(value, str) else value[:200]
    out["reason"] = str(e.get("msg", "invalid"))
    return out


def problem_spec(spec: dict) -> dict:
    """Every error response of the spec as the one Problem schema, media type application/problem+json."""
    ref = {"$ref": "#/components/schemas/Problem"}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    for operations in spec.get("paths", {}).values():
        for op in operations.values():
            for status, response in op.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {PROBLEM_MEDIA: {"schema": ref}}
                    if status == "422" and response.get("description") == "Validation Error":
                        response["description"] = "a parameter or the body is invalid: `errors` names each field"
    return spec
