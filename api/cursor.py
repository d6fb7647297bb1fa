"""Opaque sync cursors: what a client hands back to continue where the last page ended.

A cursor encodes the stream it belongs to and the last revision delivered, as URL-safe base64
of a small JSON object. Clients must treat it as opaque; its content may change between
versions (a `v` field says which).
"""

import base64
import json

from fastapi import HTTPException


def encode(stream: str, revision: int) -> str:
    raw = json.dumps({"v": 1, "s": stream, "r": revision}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, stream: str) -> int:
    """The revision after which to continue; 0 for no cursor. 422 for a cursor of another stream."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["v"] != 1 or data["s"] != stream or not isinstance(data["r"], int) or data["r"] < 0:
            raise ValueError
        return data["r"]
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, f"cursor = {cursor[:80]!r}: not a cursor of {stream}; pass the next_cursor "
                            "of a previous page, or no cursor to start from the beginning") from exc
