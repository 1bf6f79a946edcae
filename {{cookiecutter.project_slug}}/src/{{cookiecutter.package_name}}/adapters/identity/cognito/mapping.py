"""Between Cognito's shapes and the port's: ``SECRET_HASH``, users, code deliveries, tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ....ports.errors import AuthenticationFailed, BackendUnavailable
from ....ports.identity import AuthTokens, CodeDelivery, UserInfo
from .errors import BACKEND


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """What app clients with a secret demand on every call that names a user."""
    digest = hmac.new(
        client_secret.encode(), (username + client_id).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def attributes(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(a["Name"]): str(a.get("Value", "")) for a in items or ()}


def user_info(raw: Mapping[str, Any], roles: tuple[str, ...] | None) -> UserInfo:
    """A user from ``AdminGetUser`` (``UserAttributes``) or a listing (``Attributes``)."""
    attrs = attributes(raw.get("UserAttributes") or raw.get("Attributes"))
    created = raw.get("UserCreateDate")
    return UserInfo(
        username=str(raw["Username"]),
        subject=attrs.get("sub", str(raw["Username"])),
        email=attrs.get("email"),
        status=str(raw.get("UserStatus", "UNKNOWN")),
        enabled=bool(raw.get("Enabled", True)),
        roles=roles,
        created_at=created if isinstance(created, datetime) else None,
        attributes=attrs,
    )


def code_delivery(raw: Mapping[str, Any] | None) -> CodeDelivery | None:
    if not raw:
        return None
    return CodeDelivery(
        medium=str(raw.get("DeliveryMedium", "")),
        destination=str(raw.get("Destination", "")),
        attribute=raw.get("AttributeName"),
    )


def auth_tokens(response: Mapping[str, Any]) -> AuthTokens:
    """The tokens of an ``InitiateAuth`` answer; a challenge (MFA, new password) is a 401."""
    challenge = response.get("ChallengeName")
    if challenge:
        raise AuthenticationFailed(f"Sign-in needs an additional step: {challenge}")
    result = response.get("AuthenticationResult")
    if not result or "AccessToken" not in result:
        raise BackendUnavailable(BACKEND, "no tokens in the authentication result")
    return AuthTokens(
        access_token=str(result["AccessToken"]),
        id_token=result.get("IdToken"),
        refresh_token=result.get("RefreshToken"),
        expires_in=int(result.get("ExpiresIn", 3600)),
        token_type=str(result.get("TokenType", "Bearer")),
    )
