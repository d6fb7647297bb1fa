"""ETag / If-None-Match for JSON GET responses (RFC 9110): a strong validator from the body hash.

Pure ASGI middleware: a 200 JSON answer to GET is buffered, hashed (SHA-256, first 32 hex
digits) and sent with `ETag`; when the request's If-None-Match names that tag the answer is
304 without a body. Streams (SSE) and file downloads pass through untouched, and so do answers
that carry their own ETag (cached answers, lingtan.api.live: `cached_response` answers them).
"""

import hashlib

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ETagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        wanted = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def wrapped(message: Message) -> None:
            nonlocal start, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                if message["status"] != 200 or not headers.get("content-type", "").startswith("application/json") \
                        or "etag" in headers:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                tag = tag_of(body)
                raw = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                raw.append((b"etag", tag.encode()))
                if wanted and _matches(wanted, tag):
                    raw = [(k, v) for k, v in raw if k.lower() != b"content-type"]
                    await send({"type": "http.response.start", "status": 304, "headers": raw})
                    await send({"type": "http.response.body", "body": b""})
                    return
                raw.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": raw})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, wrapped)


def tag_of(body: bytes) -> str:
    """The strong ETag of a body."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def cached_response(request: Request, body: bytes, tag: str) -> Response:
    """A JSON answer whose ETag is known: 304 if If-None-Match names it, else the body."""
    wanted = request.headers.get("if-none-match")
    if wanted and _matches(wanted, tag):
        return Response(status_code=304, headers={"etag": tag})
    return Response(body, media_type="application/json", headers={"etag": tag})


def _matches(header: str, tag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in header.split(","))
