"""Between Cognito's shapes and the port's: ``SECRET_HASH``, users, code deliveries, tokens,
and the pool's password policy (checked here so a taken username is refused like a free one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
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


def masked_email(email: str) -> str:
    """``a***@e***``: how Cognito shows the address a code went to."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain[:1]}***"


def masked_phone(phone: str) -> str:
    """``+*******1234``: how Cognito shows the number a code went to."""
    return "+" + "*" * max(len(phone) - 5, 0) + phone[-4:]


def simulated_delivery(
    email: str, attributes: Mapping[str, str] | None, auto_verified: Sequence[str] | None
) -> CodeDelivery | None:
    """The ``CodeDeliveryDetails`` a new account would have got: the pool sends the code to the
    first auto-verified attribute the request gave (none: no code, no delivery)."""
    verified = ("email",) if auto_verified is None else tuple(auto_verified)
    if "email" in verified and email:
        return CodeDelivery(medium="EMAIL", destination=masked_email(email), attribute="email")
    phone = (attributes or {}).get("phone_number")
    if "phone_number" in verified and phone:
        return CodeDelivery(medium="SMS", destination=masked_phone(phone), attribute="phone_number")
    return None


def password_problem(password: str, policy: Mapping[str, Any] | None) -> str | None:
    """What the pool's ``PasswordPolicy`` finds wrong with ``password``, or ``None``.

    Never stricter than Cognito (any non-alphanumeric character counts as a symbol, any Unicode
    letter case as a case), so it refuses nothing Cognito would take; Cognito stays the judge of
    a new account's password.
    """
    if not policy:
        return None
    if len(password) < int(policy.get("MinimumLength", 8)):
        return "Password not long enough"
    checks: tuple[tuple[str, Callable[[str], bool], str], ...] = (
        ("RequireUppercase", str.isupper, "uppercase characters"),
        ("RequireLowercase", str.islower, "lowercase characters"),
        ("RequireNumbers", str.isdigit, "numeric characters"),
        ("RequireSymbols", lambda c: not c.isalnum(), "symbol characters"),
    )
    for setting, wanted, what in checks:
        if policy.get(setting, False) and not any(wanted(c) for c in password):
            return f"Password must have {what}"
    return None


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
