"""What both verifiers share: PyJWT error translation and claims -> ``Principal``.

PyJWT is imported where a token is first read or written, not at start-up: importing it loads
``cryptography`` (about 0.1 s), which HS256 does not use and no health probe should wait for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...ports.errors import AuthenticationFailed
from ...ports.identity import Principal, unique_roles

if TYPE_CHECKING:
    import jwt

REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "token_use")


def unverified_header(token: str) -> dict[str, Any]:
    if not token or token.count(".") != 2:
        raise AuthenticationFailed("Invalid token: not a JWT (expected header.payload.signature)")
    import jwt  # on first use (see the module's docstring)

    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed("Invalid token: the header cannot be decoded") from exc


def require_algorithm(header: Mapping[str, Any], algorithm: str) -> None:
    found = header.get("alg")
    if found != algorithm:
        raise AuthenticationFailed(
            f"Invalid token: algorithm {found!r} is not accepted (only {algorithm})"
        )


def translate(exc: jwt.PyJWTError) -> AuthenticationFailed:
    """A PyJWT failure as a 401 whose message says what was wrong (never the token)."""
    import jwt  # on first use (see the module's docstring)

    if isinstance(exc, jwt.ExpiredSignatureError):
        return AuthenticationFailed("Token has expired")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return AuthenticationFailed("Token is not yet valid (nbf/iat in the future)")
    if isinstance(exc, jwt.InvalidIssuerError):
        return AuthenticationFailed("Token issuer is not trusted")
    if isinstance(exc, jwt.InvalidAudienceError):
        return AuthenticationFailed("Token audience is not accepted")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return AuthenticationFailed(f"Token lacks the required {exc.claim!r} claim")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return AuthenticationFailed("Invalid token: algorithm is not accepted")
    if isinstance(exc, jwt.InvalidSignatureError):
        return AuthenticationFailed("Invalid token: signature verification failed")
    if isinstance(exc, jwt.DecodeError):
        return AuthenticationFailed("Invalid token: it cannot be decoded")
    return AuthenticationFailed("Invalid token")


def require_token_use(claims: Mapping[str, Any], expected: str) -> None:
    found = claims.get("token_use")
    if found != expected:
        raise AuthenticationFailed(f"Wrong token type: expected an {expected} token, got {found!r}")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    subject = str(claims.get("sub", ""))
    if not subject:
        raise AuthenticationFailed("Token lacks the required 'sub' claim")
    username = claims.get("username") or claims.get("cognito:username") or subject
    roles_claim = claims.get("roles")
    groups_claim = claims.get("cognito:groups")
    roles = unique_roles(
        [str(r) for r in roles_claim] if isinstance(roles_claim, list) else None,
        [str(g) for g in groups_claim] if isinstance(groups_claim, list) else None,
    )
    email = claims.get("email")
    return Principal(
        subject=subject,
        username=str(username),
        email=str(email) if email else None,
        roles=frozenset(roles),
        claims=dict(claims),
    )
