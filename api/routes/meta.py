"""Liveness, and the caller's own identity (`/session`: log in and out of the dashboard)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, HTTPException, Request, Response
from sqlalchemy import select

from lingtan.api import auth, schemas
from lingtan.api.deps import CtxDep, PrincipalDep, SessionDep
from lingtan.api.limits import per_key
from lingtan.api.routes import AUTH_ERRORS, BAD_BODY, NOT_MODIFIED

router = APIRouter()


@router.get("/health", response_model=schemas.Health, tags=["meta"], responses=NOT_MODIFIED)
def health(ctx: CtxDep, session: SessionDep) -> schemas.Health:
    """Liveness with the database. Needs no credential."""
    session.execute(select(1))
    return schemas.Health(status="ok", time=ctx.clock())


_RETRY = {"Retry-After": {"required": True, "schema": {"type": "integer"}, "description": "seconds to wait"}}


@router.get("/session", response_model=schemas.SessionOut, tags=["session"], dependencies=[Depends(per_key)],
            responses={**AUTH_ERRORS, **NOT_MODIFIED, 429: {
                "description": "this key's or user's requests per minute are used up; see Retry-After",
                "headers": _RETRY}})
def whoami(principal: PrincipalDep) -> schemas.SessionOut:
    """The caller: key, user or demo mode, with its parks and scopes (and the enterprises it is bound to)."""
    return schemas.SessionOut(kind=principal.kind, name=principal.name,
                              parks=None if principal.parks is None else sorted(principal.parks),
                              scopes=sorted(s.value for s in principal.scopes),
                              enterprises=None if principal.enterprises is None else sorted(principal.enterprises))


@router.post("/session", response_model=schemas.SessionOut, tags=["session"], responses={
    401: AUTH_ERRORS[401] | {"description": "wrong username or password"}, 422: AUTH_ERRORS[422],
    429: {"description": "too many failed logins for this username or from this address; see Retry-After",
          "headers": _RETRY},
    **BAD_BODY})
async def log_in(body: schemas.LoginIn, request: Request, response: Response, ctx: CtxDep) -> schemas.SessionOut:
    """Exchange a dashboard user's password for a session cookie (HttpOnly, SameSite=Strict; Secure
    when the request came over https, as seen directly or told by a proxy in api.trusted_proxies).
    After 5 failed logins of a username, or 20 from one address, within 5 minutes: 429."""
    throttle = ctx.logins
    address = request.client.host if request.client else "?"
    wait = throttle.retry_after(body.username, address)
    if wait is not None:
        raise HTTPException(429, f"too many failed logins for username {body.username!r} or from {address}; "
                            f"try again in {wait} s", headers={"Retry-After": str(wait)})
    now = ctx.clock()

    def check() -> tuple[str, schemas.SessionOut] | None:  # Argon2 in the login pool, not the shared one
        with ctx.sessions() as session:
            token = auth.login(session, body.username, body.password, now, ctx.config.api.session_hours)
            if token is None:
                return None
            session.commit()
            return token, whoami(auth.session_principal(session, token, now))

    done = await asyncio.get_running_loop().run_in_executor(throttle.pool, check)
    if done is None:
        throttle.failed(body.username, address)
        raise HTTPException(401, "username or password is wrong")
    token, out = done
    response.set_cookie(auth.SESSION_COOKIE, token, max_age=int(ctx.config.api.session_hours * 3600), httponly=True,
                        samesite="strict", secure=ctx.config.api.cookie_secure or request.url.scheme == "https",
                        path="/")
    return out


@router.delete("/session", status_code=204, tags=["session"])
def log_out(ctx: CtxDep, session: SessionDep,
            lingtan_session: Annotated[str | None, Cookie()] = None) -> Response:
    """End the dashboard session (idempotent); the cookie is refused at once."""
    if lingtan_session:
        auth.logout(session, lingtan_session)
        session.commit()
        ctx.principals.forget_session(lingtan_session)
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
