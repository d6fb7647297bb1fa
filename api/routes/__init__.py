"""REST API v1 routes, one module per noun; each module exports `router`."""

from pydantic import TypeAdapter
from starlette.responses import Response

from lingtan.api.schemas import Problem

_PROBLEM = {"model": Problem}
AUTH_ERRORS = {
    401: {**_PROBLEM, "description": "no credential, or an unknown / revoked API key"},
    403: {**_PROBLEM, "description": "the credential lacks the scope this route needs"},
    422: {**_PROBLEM, "description": "a parameter or the body is invalid; `detail` says which and what is accepted"},
}
PARK_ERRORS = {**AUTH_ERRORS, 404: {**_PROBLEM, "description": "no such park, or not one this credential may see"}}
NOT_MODIFIED = {304: {"description": "Not Modified: If-None-Match named the current ETag"}}
BAD_BODY = {400: {**_PROBLEM, "description": "the body is not parseable JSON"}}


def encoded(adapter: TypeAdapter, value) -> Response:
    """A large answer (meter lists, sync pages) serialised once by pydantic's encoder, not validated
    again and re-encoded by FastAPI's response_model path (which doubled their CPU); the route
    still declares its response_model for the spec."""
    return Response(adapter.dump_json(value), media_type="application/json")
