"""Signed page cursors: opaque tokens that resume a listing where its last page ended.

A cursor carries the sort values of the last row served (or a backend's own resume token) and
an HMAC-SHA256 over that payload and the query it pages: the collection, the sort and the
parsed filter. A cursor made for any other query, signed with another key, or altered in any
byte is ``InvalidCursor``; its values are then validated against the listing's field types.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import InvalidCursor
from .schema import EntitySchema, coerce

if TYPE_CHECKING:
    from .query import Filter, PreparedQuery, SortField

# Used when no key is configured: cursors then hold for this process only.
_PROCESS_KEY = secrets.token_bytes(32)
_MAC_BYTES = 16
_FOREIGN = "this cursor does not belong to this collection, sort and filter (or was altered)"
# ``json.dumps`` with options builds an encoder per call; payloads share this one.
_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True)
class CursorSigner:
    """Signs cursor payloads with HMAC-SHA256 over the payload and the query it pages.

    ``binding`` may be a function making it: most queries never read or issue a cursor, so
    they never pay for the filter's fingerprint."""

    key: bytes
    binding: str | Callable[[], str]

    @cached_property
    def _prefix(self) -> bytes:
        binding = self.binding if isinstance(self.binding, str) else self.binding()
        return binding.encode() + b"\x00"

    def _mac(self, raw: bytes) -> bytes:
        message = self._prefix + raw
        return hmac.digest(self.key or _PROCESS_KEY, message, hashlib.sha256)[:_MAC_BYTES]

    def encode(self, payload: Mapping[str, Any]) -> str:
        """An opaque, URL-safe token: the payload and its MAC."""
        raw = _JSON.encode({**payload, "v": 1}).encode()
        return base64.urlsafe_b64encode(raw + self._mac(raw)).decode().rstrip("=")

    def decode(self, token: str) -> dict[str, Any]:
        """The payload of a token this signer made, or InvalidCursor when it is malformed or its
        MAC does not match."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise InvalidCursor("malformed cursor")
        try:
            data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor("malformed cursor") from exc
        raw, mac = data[:-_MAC_BYTES], data[-_MAC_BYTES:]
        if len(data) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(raw)):
            raise InvalidCursor(_FOREIGN)
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidCursor("malformed cursor") from exc
        if not isinstance(payload, dict) or payload.pop("v", None) != 1:
            raise InvalidCursor("malformed cursor")
        return payload


# --- what a cursor is bound to -------------------------------------------------------------


def sort_signature(sort: Sequence[SortField]) -> str:
    """The sort order as query text (-created_at,id): part of what a cursor is bound to."""
    return ",".join(str(s) for s in sort)


def filter_fingerprint(tree: Filter | None) -> str:
    """A digest of a parsed filter: equal filters (after parsing) give equal digests."""
    return hashlib.sha256(repr(tree).encode()).hexdigest()[:32]


# --- issuing and reading cursors -----------------------------------------------------------


def keyset_cursor(prepared: PreparedQuery, values: Sequence[Any]) -> str:
    """A cursor that resumes after the row whose sort values are ``values``."""
    return _signer(prepared).encode({"k": [_jsonable(v) for v in values]})


def backend_cursor(prepared: PreparedQuery, payload: Mapping[str, Any]) -> str:
    """A cursor carrying a backend's own resume token (DynamoDB's LastEvaluatedKey)."""
    return _signer(prepared).encode(payload)


def _signer(prepared: PreparedQuery) -> CursorSigner:
    return prepared.signer or CursorSigner(b"", sort_signature(prepared.sort))


def decode_keyset(raw: Any, sort: Sequence[SortField], schema: EntitySchema) -> tuple[Any, ...]:
    """A keyset cursor's values, typed like the sort fields (``InvalidCursor`` otherwise)."""
    if not isinstance(raw, list) or len(raw) != len(sort):
        raise InvalidCursor("malformed cursor")
    values: list[Any] = []
    for item, value in zip(sort, raw, strict=True):
        info = schema.resolve(item.field)
        if info is None:
            raise InvalidCursor("malformed cursor")
        try:
            values.append(coerce(info, value))
        except ValueError as exc:
            raise InvalidCursor("malformed cursor") from exc
    return tuple(values)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
