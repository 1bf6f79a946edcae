"""HS256 verifier for the tokens the memory identity provider issues.

The algorithm is pinned: ``alg: none``, RS256 tokens and anything else are rejected before the
signature is even looked at. ``iss``, ``aud``, ``exp``, ``nbf`` (with a small leeway) and
``token_use`` are checked; a ``kid`` header, when present, must be this key's id.
"""

from __future__ import annotations

import jwt

from ...ports.errors import AuthenticationFailed
from ...ports.identity import Principal
from ._jwt import (
    REQUIRED_CLAIMS,
    principal_from_claims,
    require_algorithm,
    require_token_use,
    translate,
    unverified_header,
)

ALGORITHM = "HS256"
DEFAULT_KEY_ID = "hs256-1"


class Hs256TokenVerifier:
    def __init__(
        self,
        secret: str | bytes,
        issuer: str,
        audience: str | None = None,
        *,
        leeway_seconds: float = 30,
        key_id: str = DEFAULT_KEY_ID,
        token_use: str = "access",
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if not key:
            raise ValueError("an HS256 verifier needs a non-empty secret")
        self._key = key
        self._issuer = issuer
        self._audience = audience or issuer
        self._leeway = leeway_seconds
        self._key_id = key_id
        self._token_use = token_use

    async def start(self) -> None:
        """Nothing to open; present so the lifespan treats every verifier alike."""

    async def close(self) -> None:
        """Nothing to close."""

    async def verify(self, token: str) -> Principal:
        header = unverified_header(token)
        require_algorithm(header, ALGORITHM)
        kid = header.get("kid")
        if kid is not None and kid != self._key_id:
            raise AuthenticationFailed("Invalid token: signing key (kid) is unknown")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": [*REQUIRED_CLAIMS, "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise translate(exc) from None
        require_token_use(claims, self._token_use)
        return principal_from_claims(claims)


MemoryJwtVerifier = Hs256TokenVerifier
