"""Authentication and authorisation dependencies.

- ``CurrentUser``: the verified ``Principal`` of the ``Authorization: Bearer <token>`` header;
  no header or a bad token is a 401 (``AuthenticationFailed``, mapped by ``errors.py``).
- ``OptionalCurrentUser``: ``None`` without a header, but a token that IS sent must be valid
  (a bad token is never silently treated as anonymous).
- ``require_roles("admin", ...)``: a dependency that lets the principal through when it holds
  one of the roles (or all of them with ``all_required=True``), else 403 ``PermissionDenied``.

Which roles exist and which routes need them is the host application's decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ...ports.errors import AuthenticationFailed, PermissionDenied
from ...ports.identity import Principal, unique_roles
from .deps import TokenVerifierDep

MISSING_TOKEN = "Missing bearer token: send 'Authorization: Bearer <access token>'"

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")


def _token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    token = credentials.credentials.strip() if credentials is not None else ""
    return token or None


async def get_bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return _token(credentials)


async def require_bearer_token(
    token: Annotated[str | None, Depends(get_bearer_token)],
) -> str:
    if token is None:
        raise AuthenticationFailed(MISSING_TOKEN)
    return token


async def get_optional_user(
    verifier: TokenVerifierDep,
    # the header itself rather than ``get_bearer_token``: one dependency level fewer per request
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    token = _token(credentials)
    if token is None:
        return None
    return await verifier.verify(token)


async def get_current_user(
    principal: Annotated[Principal | None, Depends(get_optional_user)],
) -> Principal:
    if principal is None:
        raise AuthenticationFailed(MISSING_TOKEN)
    return principal


BearerToken = Annotated[str, Depends(require_bearer_token)]
CurrentUser = Annotated[Principal, Depends(get_current_user)]
OptionalCurrentUser = Annotated[Principal | None, Depends(get_optional_user)]


def require_roles(
    *roles: str, all_required: bool = False
) -> Callable[[Principal], Awaitable[Principal]]:
    """``Depends(require_roles("admin"))`` on a route or router, or as a parameter's default:
    ``user: Annotated[Principal, Depends(require_roles("admin"))]``."""
    wanted = unique_roles(roles)
    if not wanted:
        raise ValueError("require_roles needs at least one role")

    async def dependency(user: CurrentUser) -> Principal:
        if all_required:
            missing = [role for role in wanted if role not in user.roles]
            if missing:
                raise PermissionDenied(f"Requires the role(s): {', '.join(missing)}")
        elif not user.has_any_role(wanted):
            raise PermissionDenied(f"Requires one of the roles: {', '.join(wanted)}")
        return user

    dependency.__name__ = f"require_roles_{'_'.join(wanted)}"
    return dependency
