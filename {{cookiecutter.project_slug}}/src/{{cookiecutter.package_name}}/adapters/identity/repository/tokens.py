"""Token issuing of the repository provider: HS256 JWTs and refresh tokens.

- Access and ID tokens are HS256 JWTs with ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti``,
  ``token_use``, ``sid`` (the session), ``tv`` (the account's token version) and a ``kid``
  header; :class:`...tokens.hs256.Hs256TokenVerifier` verifies them.
- A refresh token is ``<session id>.<secret>``. The secret that replaces a presented one is
  derived from it with an HMAC of the signing key, not drawn at random: a refresh repeated
  within the grace window (two tabs, a retried request) gets the very same new pair, while
  nobody without the key can compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from ....ports.identity import AuthTokens
from ...tokens.hs256 import ALGORITHM
from .records import IdentityAccount


def digest(secret: str) -> str:
    """What is stored instead of a code or a refresh secret: a leak reveals neither."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_refresh_token(token: str) -> tuple[str, str] | None:
    session, dot, secret = token.partition(".")
    if not dot or not session or not secret or len(token) > 512:
        return None
    return session, secret


class TokenIssuer:
    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        *,
        access_ttl_seconds: int,
        key_id: str,
    ) -> None:
        self._secret = secret.encode()
        # A key of its own for deriving refresh secrets (never the signing key used as is).
        self._derive_key = hmac.new(self._secret, b"refresh-token-derivation", "sha256").digest()
        self._issuer = issuer
        self._audience = audience
        self.access_ttl = access_ttl_seconds
        self._key_id = key_id

    def new_refresh_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def next_refresh_secret(self, session: str, presented_digest: str) -> str:
        """The secret that replaces the one whose digest is ``presented_digest``."""
        mac = hmac.new(self._derive_key, f"{session}:{presented_digest}".encode(), "sha256")
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def issue(
        self,
        account: IdentityAccount,
        session: str,
        refresh_secret: str,
        *,
        issued_at: float,
        jti_seed: str | None = None,
    ) -> AuthTokens:
        """Tokens for ``account`` in ``session``. With ``jti_seed`` the token ids are derived
        from it, so issuing twice with the same inputs gives the same tokens."""
        now = int(issued_at)
        base: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": account.id,
            "username": account.username,
            "roles": list(account.roles),
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
            "sid": session,
            "tv": account.token_version,
        }
        headers = {"kid": self._key_id}
        import jwt  # on first use (see adapters/tokens/_jwt.py)

        access = jwt.encode(
            {**base, "token_use": "access", "jti": self._jti("access", jti_seed)},
            self._secret,
            algorithm=ALGORITHM,
            headers=headers,
        )
        id_token = jwt.encode(
            {
                **base,
                "token_use": "id",
                "jti": self._jti("id", jti_seed),
                "email": account.email,
            },
            self._secret,
            algorithm=ALGORITHM,
            headers=headers,
        )
        return AuthTokens(access, id_token, f"{session}.{refresh_secret}", self.access_ttl)

    def _jti(self, use: str, seed: str | None) -> str:
        if seed is None:
            return secrets.token_hex(16)
        return hmac.new(self._derive_key, f"jti:{use}:{seed}".encode(), "sha256").hexdigest()[:32]
