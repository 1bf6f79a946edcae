"""HS256 verifier for the tokens the repository and memory identity providers issue.

The algorithm is pinned: ``alg: none``, RS256 tokens and anything else are rejected before the
signature is even looked at. ``iss``, ``aud``, ``exp``, ``nbf`` (with a small leeway) and
``token_use`` are checked; a ``kid`` header, when present, must be this key's id.

With ``revocations`` (the provider), a token must also carry its account's current token
version (claim ``tv``): logout, a password change, a role change, disable and delete move the
version on. Versions are cached per subject for ``revocation_check_seconds``, which is
therefore the longest a revoked token keeps working (0: checked on every request).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...ports.errors import AuthenticationFailed
from ...ports.identity import Principal, TokenRevocations
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
REVOKED = "Token has been revoked"
MAX_CACHED_SUBJECTS = 10_000


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
        revocations: TokenRevocations | None = None,
        revocation_check_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
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
        self._revocations = revocations
        self._check_every = revocation_check_seconds
        self._clock = clock
        self._versions: dict[str, tuple[int | None, float]] = {}

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
        import jwt  # on first use (see ._jwt's docstring)

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
        principal = principal_from_claims(claims)
        if self._revocations is not None:
            await self._require_current(self._revocations, principal.subject, claims.get("tv"))
        return principal

    async def _require_current(
        self, revocations: TokenRevocations, subject: str, version: object
    ) -> None:
        if not isinstance(version, int) or isinstance(version, bool):
            raise AuthenticationFailed("Invalid token: it carries no token version")
        now = self._clock()
        cached = self._versions.get(subject)
        if cached is None or now - cached[1] >= self._check_every or cached[0] != version:
            # A mismatch is re-read rather than trusted from the cache: a token issued after
            # the cached read carries the newer version.
            current = await revocations.token_version(subject)
            if len(self._versions) >= MAX_CACHED_SUBJECTS:
                self._versions.clear()
            self._versions[subject] = (current, now)
        else:
            current = cached[0]
        if current is None or current != version:
            raise AuthenticationFailed(REVOKED)


MemoryJwtVerifier = Hs256TokenVerifier
