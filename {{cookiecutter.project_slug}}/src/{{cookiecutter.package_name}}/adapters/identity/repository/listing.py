"""The user-listing cursor: the last username of a page, base64url-encoded with a ``u:`` tag so
a cursor from another listing is refused rather than misread."""

from __future__ import annotations

import base64
import binascii

from ....ports.errors import InvalidCursor


def encode_cursor(username: str) -> str:
    return base64.urlsafe_b64encode(b"u:" + username.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text = raw.decode()
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor is not valid for this listing") from None
    if not text.startswith("u:"):
        raise InvalidCursor("cursor is not valid for this listing")
    return text[2:]
