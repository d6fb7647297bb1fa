"""Request dependencies as `Annotated` aliases: the app context, a DB session, the caller, a park.

Every park route takes `ReadPark` or `WritePark`: the caller is authenticated (401), holds the
scope (403) and may see the park (404 otherwise, the same answer as for a park that does not
exist, so a key learns nothing about parks that are not its own).

An enterprise credential (bound to enterprises of its one park, docs/api.md) may use only the
routes of its enterprises, those with an `{enterprise_id}` in their path, and the session:
every other route answers 404, a park route exactly as for a park that does not exist, and
another enterprise exactly as an enterprise that does not exist. Two park routes are shared
(`SharedReader`, `SharedPark`: the park list and the park itself): they answer an enterprise
credential too, with only its own share of the park (lingtan.api.routes.parks).
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lingtan.api.auth import DEMO, SESSION_COOKIE, Principal, Principals, Scope, key_principal, session_principal
from lingtan.api.live import Answers, Broadcaster, Snapshots
from lingtan.api.throttle import LoginThrottle
from lingtan.kernel.config import Config
from lingtan.kernel.park import Park


@dataclass(frozen=True)
class Context:
    """What every request needs: config, parks by id, the database and the clock."""

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    parks: dict[str, Park]
    snapshots: Snapshots = field(default_factory=Snapshots)  # realtime figures, shared (lingtan.api.live)
    answers: Answers = field(default_factory=Answers)  # encoded series answers, shared (lingtan.api.live)
    principals: Principals = field(default_factory=Principals)  # recently checked credentials (lingtan.api.auth)
    streams: dict[str, Broadcaster] = field(default_factory=dict)  # park id -> its dashboard streams
    logins: LoginThrottle = field(default_factory=LoginThrottle)  # failed logins, the Argon2 pool


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


async def get_session(ctx: CtxDep) -> AsyncIterator[Session]:
    """A session per request. Async on purpose: its cleanup (returning the connection to the pool)
    runs on the event loop, so it can never wait behind route threads that wait for a connection."""
    session = ctx.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer lt_…`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="dashboard login (POST /api/v1/session)")


def get_principal(ctx: CtxDep, session: SessionDep,
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                  cookie: Annotated[str | None, Depends(_cookie)]) -> Principal:
    try:
        if bearer is not None:
            principal = ctx.principals.key(session, bearer.credentials)
            if principal is None:
                raise HTTPException(401, "Authorization: the API key is unknown, malformed or revoked",
                                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return principal
        if cookie:
            principal = ctx.principals.session(session, cookie, ctx.clock())
            if principal is not None:
                return principal
        if ctx.config.api.demo_open:
            return DEMO
        raise HTTPException(401, "authentication required: send `Authorization: Bearer <API key>` "
                            "or log in at POST /api/v1/session", headers={"WWW-Authenticate": "Bearer"})
    finally:
        session.rollback()  # end the read transaction: long requests (SSE) hold no connection


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def still_allowed(ctx: Context, request: Request, park_id: str, scope: Scope = Scope.READ) -> bool:
    """Whether the request's credential (its API key or session cookie, as it sent them) would still
    be let in to this park now: for long requests (the SSE stream), after a key was revoked, a
    user disabled or a session expired. Asks the database, not `ctx.principals`: a stream's bound
    stays its own re-check interval."""
    header = request.headers.get("authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE)
    with ctx.sessions() as session:
        if header.lower().startswith("bearer "):
            principal = key_principal(session, header[7:].strip())
        elif cookie:
            principal = session_principal(session, cookie, ctx.clock())
        else:
            principal = DEMO if ctx.config.api.demo_open else None
    return (principal is not None and principal.can(scope) and principal.sees(park_id)
            and principal.enterprises is None)  # the routes that re-check (the stream) are park-wide


def require(scope: Scope, shared: bool = False) -> Callable[..., Principal]:
    """The dependency that admits a caller holding `scope`. An enterprise credential is admitted
    only to its enterprises' routes (an `{enterprise_id}` in the path), and to `shared` routes,
    which answer it with its own share of the park; anywhere else it gets the 404 of a park (or
    a route) that does not exist."""
    def dependency(principal: PrincipalDep, request: Request) -> Principal:
        if principal.enterprises is not None and not shared and "enterprise_id" not in request.path_params:
            park_id = request.path_params.get("park_id")
            if park_id is not None:
                raise HTTPException(404, f"park_id = {park_id!r}: no such park")
            raise HTTPException(404, "an enterprise credential may use only its enterprises' routes "
                                "(/api/v1/parks/{park_id}/enterprises/{enterprise_id}...), its park "
                                "(/api/v1/parks, /api/v1/parks/{park_id}) and /api/v1/session")
        if not principal.can(scope):
            raise HTTPException(403, f"this credential lacks scope {scope.value!r} "
                                f"(it has {sorted(s.value for s in principal.scopes)})")
        return principal
    return dependency


Reader = Annotated[Principal, Depends(require(Scope.READ))]
Writer = Annotated[Principal, Depends(require(Scope.WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
SharedReader = Annotated[Principal, Depends(require(Scope.READ, shared=True))]  # enterprise credentials too

ParkId = Annotated[str, Path(description="park id", max_length=64)]


def _park(ctx: Context, principal: Principal, park_id: str, request: Request) -> Park:
    park = ctx.parks.get(park_id)
    if park is None or not principal.sees(park_id):
        raise HTTPException(404, f"park_id = {park_id!r}: no such park")
    enterprise_id = request.path_params.get("enterprise_id")
    if enterprise_id is not None and not principal.sees_enterprise(park_id, enterprise_id):
        raise HTTPException(404, no_enterprise(park, enterprise_id))
    return park


def no_enterprise(park: Park, enterprise_id: str) -> str:
    """The 404 detail for an enterprise that does not exist, or that the credential may not see."""
    return f"enterprise_id = {enterprise_id!r}: no enterprise of park {park.id!r}"


def read_park(ctx: CtxDep, principal: Reader, park_id: ParkId, request: Request) -> Park:
    return _park(ctx, principal, park_id, request)


def write_park(ctx: CtxDep, principal: Writer, park_id: ParkId, request: Request) -> Park:
    return _park(ctx, principal, park_id, request)


def read_shared_park(ctx: CtxDep, principal: SharedReader, park_id: ParkId, request: Request) -> Park:
    return _park(ctx, principal, park_id, request)


ReadPark = Annotated[Park, Depends(read_park)]
WritePark = Annotated[Park, Depends(write_park)]
SharedPark = Annotated[Park, Depends(read_shared_park)]  # a park route an enterprise credential may read too
