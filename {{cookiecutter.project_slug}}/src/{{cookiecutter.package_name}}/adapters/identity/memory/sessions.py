"""Token issuing and refresh-token families for the memory provider.

- Access and ID tokens are HS256 JWTs with ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti``,
  ``token_use``, ``sid`` and a ``kid`` header; :class:`...tokens.hs256.Hs256TokenVerifier`
  verifies them.
- A login starts a session (``sid``); its refresh tokens form one family. Refresh tokens are
  opaque random strings stored as SHA-256 digests. A refresh rotates them: the old one is
  revoked, and presenting a revoked one again (a replay) revokes the whole family.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from ....ports.errors import AuthenticationFailed
from ....ports.identity import AuthTokens
from ...tokens.hs256 import ALGORITHM
from .codes import digest
from .users import UserRecord

logger = logging.getLogger(__name__)

REFRESH_FAILED = "Refresh token is invalid, expired or revoked"


@dataclass(slots=True)
class RefreshRecord:
    username: str
    session: str
    expires_at: float
    revoked: bool = False


class SessionTokens:
    """Signs tokens and keeps every refresh token issued, by digest.

    Not locked itself: the provider calls it under its own lock.
    """

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        *,
        access_ttl_seconds: int,
        refresh_ttl_seconds: int,
        key_id: str,
        clock: Callable[[], float],
    ) -> None:
        self._secret = secret.encode()
        self._issuer = issuer
        self._audience = audience
        self._access_ttl = access_ttl_seconds
        self._refresh_ttl = refresh_ttl_seconds
        self._key_id = key_id
        self._clock = clock
        self._refresh: dict[bytes, RefreshRecord] = {}

    def issue(self, user: UserRecord, session: str) -> AuthTokens:
        """Access, ID and refresh tokens for ``user``; the refresh token joins ``session``."""
        now = int(self._clock())
        base: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user.subject,
            "username": user.username,
            "roles": sorted(user.roles),
            "iat": now,
            "nbf": now,
            "exp": now + self._access_ttl,
            "sid": session,
        }
        headers = {"kid": self._key_id}
        access = jwt.encode(
            {**base, "token_use": "access", "jti": str(uuid.uuid4())},
            self._secret,
            algorithm=ALGORITHM,
            headers=headers,
        )
        id_token = jwt.encode(
            {**base, "token_use": "id", "jti": str(uuid.uuid4()), "email": user.email},
            self._secret,
            algorithm=ALGORITHM,
            headers=headers,
        )
        refresh = secrets.token_urlsafe(48)
        self._refresh[digest(refresh)] = RefreshRecord(
            user.username, session, self._clock() + self._refresh_ttl
        )
        return AuthTokens(access, id_token, refresh, self._access_ttl)

    def rotate(
        self, refresh_token: str, username: str | None, users: Mapping[str, UserRecord]
    ) -> AuthTokens:
        """New tokens for a valid refresh token, which is revoked; a replay ends its session."""
        record = self._refresh.get(digest(refresh_token))
        if record is None or (username is not None and username != record.username):
            raise AuthenticationFailed(REFRESH_FAILED)
        if record.revoked:
            # A rotated (or revoked) token came back: someone holds a copy. End the session.
            self.revoke_session(record.session)
            logger.warning("refresh token replay for %r: session revoked", record.username)
            raise AuthenticationFailed(REFRESH_FAILED)
        user = users.get(record.username)
        if record.expires_at <= self._clock() or user is None or not user.enabled:
            record.revoked = True
            raise AuthenticationFailed(REFRESH_FAILED)
        record.revoked = True
        return self.issue(user, session=record.session)

    def revoke(self, refresh_token: str, username: str | None) -> None:
        """End the session ``refresh_token`` belongs to; an unknown token is ignored."""
        record = self._refresh.get(digest(refresh_token))
        if record is None or (username is not None and username != record.username):
            return  # RFC 7009: revoking an unknown token is not an error
        self.revoke_session(record.session)

    def revoke_session(self, session: str) -> None:
        self._revoke_where(lambda r: r.session == session)

    def revoke_user(self, username: str) -> None:
        self._revoke_where(lambda r: r.username == username)

    def _revoke_where(self, predicate: Callable[[RefreshRecord], bool]) -> None:
        for record in self._refresh.values():
            if predicate(record):
                record.revoked = True

    def prune(self) -> None:
        """Forget expired refresh tokens (revoked ones stay until then, to catch replays)."""
        now = self._clock()
        for key in [k for k, r in self._refresh.items() if r.expires_at <= now]:
            del self._refresh[key]
