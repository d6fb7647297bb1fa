"""REST API v1 routes, one module per noun; each module exports `router`."""

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
