"""RS256 verifier for Cognito user pool tokens, against the pool's JWKS.

- The JWKS is fetched with ``httpx.AsyncClient`` (never a blocking call inside ``verify``), cached
  for ``jwks_ttl_seconds`` and shared by concurrent callers (one fetch under a lock).
- A token whose ``kid`` is not in the cache triggers ONE refresh (keys rotate), at most once per
  ``min_refresh_interval_seconds``: a flood of forged kids cannot turn into a flood of fetches.
- The algorithm is pinned to RS256 (``alg: none`` and HS256-with-the-public-key are rejected
  before any key is used); ``iss``, ``exp``, ``nbf``/``iat`` (with leeway), ``token_use`` and the
  app client (``client_id`` on access tokens, ``aud`` on id tokens) are checked.
- A JWKS that cannot be fetched is ``BackendUnavailable`` (503), not a 401: the token may be fine.

``jwks_url`` defaults to the pool's public URL; point it at moto (``<endpoint>/<pool id>/
.well-known/jwks.json``) or anything else that serves the pool's keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import jwt

from ...ports.errors import AuthenticationFailed, BackendUnavailable
from ...ports.identity import Principal
from ._jwt import (
    REQUIRED_CLAIMS,
    principal_from_claims,
    require_algorithm,
    require_token_use,
    translate,
    unverified_header,
)

ALGORITHM = "RS256"


class _JwksError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoJwtVerifier:
    def __init__(
        self,
        *,
        region: str,
        user_pool_id: str,
        client_ids: str | Iterable[str],
        token_use: str = "access",
        leeway_seconds: float = 30,
        issuer: str | None = None,
        jwks_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        jwks_ttl_seconds: float = 3600,
        min_refresh_interval_seconds: float = 30,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if token_use not in ("access", "id"):
            raise ValueError("token_use must be 'access' or 'id'")
        self._issuer = issuer or cognito_issuer(region, user_pool_id)
        self._jwks_url = jwks_url or f"{self._issuer}/.well-known/jwks.json"
        self._client_ids = frozenset((client_ids,) if isinstance(client_ids, str) else client_ids)
        if not self._client_ids:
            raise ValueError("at least one app client id is required")
        self._token_use = token_use
        self._leeway = leeway_seconds
        self._http = http_client
        self._owns_http = http_client is None
        self._ttl = jwks_ttl_seconds
        self._min_refresh = min_refresh_interval_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._last_error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def jwks_url(self) -> str:
        return self._jwks_url

    async def start(self) -> None:
        """Open the HTTP client (unless one was given). The JWKS itself is fetched lazily."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
            self._owns_http = True

    async def close(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    async def verify(self, token: str) -> Principal:
        header = unverified_header(token)
        require_algorithm(header, ALGORITHM)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("Invalid token: the header has no key id (kid)")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise translate(exc) from None
        require_token_use(claims, self._token_use)
        client = claims.get("client_id") if self._token_use == "access" else claims.get("aud")
        if client not in self._client_ids:
            raise AuthenticationFailed("Token audience is not accepted (issued for another client)")
        return principal_from_claims(claims)

    # --- JWKS cache --------------------------------------------------------------------------

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self._ttl

    def _may_fetch(self) -> bool:
        """Rate limit: at most one fetch per ``min_refresh_interval_seconds``."""
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._min_refresh

    async def _key_for(self, kid: str) -> Any:
        if self._fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Another caller may have refreshed while this one waited for the lock.
            if self._fresh() and kid in self._keys:
                return self._keys[kid]
            if self._may_fetch():
                try:
                    await self._refresh()
                except BackendUnavailable:
                    if kid in self._keys:  # stale but known: better than failing the request
                        return self._keys[kid]
                    raise
            elif self._last_error is not None and kid not in self._keys:
                raise BackendUnavailable("Cognito JWKS", self._last_error)
            if kid not in self._keys:
                raise AuthenticationFailed("Invalid token: signing key (kid) is unknown")
            return self._keys[kid]

    async def _refresh(self) -> None:
        if self._http is None:
            await self.start()
        assert self._http is not None
        self._attempted_at = self._clock()
        try:
            self._keys = await self._fetch(self._http)
        except _JwksError as exc:
            self._last_error = exc.detail
            raise BackendUnavailable("Cognito JWKS", exc.detail) from exc
        self._last_error = None
        self._fetched_at = self._clock()

    async def _fetch(self, http: httpx.AsyncClient) -> dict[str, Any]:
        try:
            response = await http.get(self._jwks_url, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise _JwksError("the key endpoint did not answer") from exc
        if response.status_code != 200:
            raise _JwksError(f"HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise _JwksError("the answer is not JSON") from exc
        return _rsa_keys(document)


def _rsa_keys(document: object) -> dict[str, Any]:
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _JwksError("the answer has no 'keys' list")
    keys: dict[str, Any] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            continue
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM or not isinstance(entry.get("kid"), str):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(dict(entry), ALGORITHM).key
        except jwt.PyJWTError:
            continue
    return keys
