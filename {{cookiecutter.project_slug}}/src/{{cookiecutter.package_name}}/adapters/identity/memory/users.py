"""The memory provider's accounts: the stored record, name rules and the user-listing cursor.

The cursor is the last username of a page, base64url-encoded with a ``u:`` tag so a cursor from
another listing is refused rather than misread.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime

from ....ports.errors import InvalidCursor, InvalidInput
from ....ports.identity import UserInfo

ROLE_PATTERN = re.compile(r"^[A-Za-z0-9_.:@+=,-]{1,128}$")
USERNAME_PATTERN = re.compile(r"^[^\s]{1,128}$")


@dataclass(slots=True)
class UserRecord:
    """One account as the provider stores it (mutable; changed only under the provider's lock)."""

    username: str
    subject: str
    email: str
    password_hash: str
    status: str
    created_at: datetime
    enabled: bool = True
    roles: set[str] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=dict)

    def info(self, *, with_roles: bool) -> UserInfo:
        return UserInfo(
            username=self.username,
            subject=self.subject,
            email=self.email,
            status=self.status,
            enabled=self.enabled,
            roles=tuple(sorted(self.roles)) if with_roles else None,
            created_at=self.created_at,
            attributes=dict(self.attributes),
        )


def check_username(username: str) -> None:
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput("Username must be 1 to 128 characters without spaces")


def check_role(role: str) -> None:
    if not ROLE_PATTERN.match(role):
        raise InvalidInput(f"Invalid role name {role!r}")


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
