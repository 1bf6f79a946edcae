"""``/auth`` routes over the ``IdentityProvider`` port (repository, memory or Cognito, same
behaviour).

Anonymous: register, confirm, login, refresh, forgot-password, confirm-forgot-password.
Signed in: logout, change-password, me. Admin role (``admin_role``): list users, assign and
remove roles, disable, enable and delete users. Codes and passwords never appear in a response.
No answer tells whether an account exists: register answers a taken username like a free one
(its owner is told), login has one message, forgot-password and confirm answer the same.

Throttled (``ports/throttle.py``, docs/identity.md#throttling): login per account and per client
address (change-password's old password counts as a login attempt), confirmation and reset code
guesses per account and per address (a new code does not reset them), forgot-password per account
and per address, register per address. Past a limit the answer is 429 with ``Retry-After``, the
same whether or not the account exists. The client address is the ASGI server's
``request.client.host``: behind a proxy, uvicorn reports the proxy's address unless it is told
to trust it (``--proxy-headers --forwarded-allow-ips``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ....ports.identity import MAX_USER_PAGE, AuthTokens, Principal, UserInfo
from ....ports.throttle import AttemptKey, AttemptLimiter, Scope
from ..deps import AttemptLimiterDep, IdentityProviderDep
from ..errors import error_responses
from ..routing import PrefixRouter
from ..security import BearerToken, CurrentUser, require_roles

_Password = Annotated[str, Field(min_length=1, max_length=256)]
_Username = Annotated[str, Field(min_length=1, max_length=128)]
_Code = Annotated[str, Field(min_length=1, max_length=64)]
_Role = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+=,-]+$")]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Schema):
    username: _Username
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: _Password


class RegisterResponse(BaseModel):
    username: str
    user_sub: str
    confirmed: bool
    code_delivery_medium: str | None = None
    code_destination: str | None = None


class ConfirmRequest(_Schema):
    username: _Username
    code: _Code


class LoginRequest(_Schema):
    username: _Username
    password: _Password


class RefreshRequest(_Schema):
    refresh_token: str = Field(min_length=1, max_length=8192)
    username: _Username | None = None  # Cognito app clients with a secret need it


class TokenResponse(BaseModel):
    access_token: str
    id_token: str | None
    refresh_token: str | None
    expires_in: int
    token_type: str

    @classmethod
    def of(cls, tokens: AuthTokens) -> TokenResponse:
        return cls(
            access_token=tokens.access_token,
            id_token=tokens.id_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
            token_type=tokens.token_type,
        )


class ForgotPasswordRequest(_Schema):
    username: _Username


class MessageResponse(BaseModel):
    message: str


class ConfirmForgotPasswordRequest(_Schema):
    username: _Username
    code: _Code
    new_password: _Password


class ChangePasswordRequest(_Schema):
    old_password: _Password
    new_password: _Password


class RoleRequest(_Schema):
    role: _Role


class UserResponse(BaseModel):
    username: str
    subject: str
    email: str | None
    status: str
    enabled: bool
    roles: list[str] | None
    created_at: datetime | None

    @classmethod
    def of(cls, user: UserInfo) -> UserResponse:
        return cls(
            username=user.username,
            subject=user.subject,
            email=user.email,
            status=user.status,
            enabled=user.enabled,
            roles=list(user.roles) if user.roles is not None else None,
            created_at=user.created_at,
        )


class MeResponse(BaseModel):
    subject: str
    username: str
    email: str | None
    roles: list[str]

    @classmethod
    def of(cls, principal: Principal, email: str | None) -> MeResponse:
        return cls(
            subject=principal.subject,
            username=principal.username,
            email=principal.email or email,
            roles=sorted(principal.roles),
        )


class UserPageResponse(BaseModel):
    items: list[UserResponse]
    next_cursor: str | None


FORGOT_MESSAGE = "If the account exists, a reset code has been sent to its contact address."


def client_address(request: Request) -> str:
    """The caller's address as the ASGI server reports it (behind a proxy: see the module
    doc); ``unknown`` when the server gives none (all such callers then share one counter)."""
    return request.client.host if request.client is not None else "unknown"


@asynccontextmanager
async def _attempt(
    limiter: AttemptLimiter, scopes: tuple[Scope, Scope], username: str, request: Request
) -> AsyncIterator[None]:
    """One attempt on the account's and the address's counters, reserved before the guarded
    work runs (concurrent guesses cannot all get past). A success starts the account's counter
    again and gives the address its attempt back (that counter counts failures; a success never
    lifts a lock); a failure stays counted."""
    account = AttemptKey(scopes[0], username)
    address = AttemptKey(scopes[1], client_address(request))
    await limiter.acquire([account, address])
    yield
    await limiter.reset(account)
    await limiter.release(address)


PASSWORD_GUESS = (Scope.LOGIN_ACCOUNT, Scope.LOGIN_ADDRESS)
CODE_GUESS = (Scope.CODE_ACCOUNT, Scope.CODE_ADDRESS)


def build_auth_router(*, prefix: str = "/auth", admin_role: str = "admin") -> APIRouter:
    router = PrefixRouter(prefix=prefix, tags=["auth"])
    admin = Depends(require_roles(admin_role))

    @router.post(
        "/register", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 429)
    )
    async def register(
        body: RegisterRequest,
        request: Request,
        identity: IdentityProviderDep,
        limiter: AttemptLimiterDep,
    ) -> RegisterResponse:
        await limiter.acquire([AttemptKey(Scope.REGISTER_ADDRESS, client_address(request))])
        result = await identity.register(body.username, body.password, body.email)
        return RegisterResponse(
            username=result.username,
            user_sub=result.user_sub,
            confirmed=result.confirmed,
            code_delivery_medium=result.delivery.medium if result.delivery else None,
            code_destination=result.delivery.destination if result.delivery else None,
        )

    @router.post(
        "/confirm",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses(400, 404, 429),
    )
    async def confirm(
        body: ConfirmRequest,
        request: Request,
        identity: IdentityProviderDep,
        limiter: AttemptLimiterDep,
    ) -> Response:
        async with _attempt(limiter, CODE_GUESS, body.username, request):
            await identity.confirm_registration(body.username, body.code)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/login", responses=error_responses(400, 401, 429))
    async def login(
        body: LoginRequest,
        request: Request,
        identity: IdentityProviderDep,
        limiter: AttemptLimiterDep,
    ) -> TokenResponse:
        async with _attempt(limiter, PASSWORD_GUESS, body.username, request):
            tokens = await identity.login(body.username, body.password)
        return TokenResponse.of(tokens)

    @router.post("/refresh", responses=error_responses(400, 401))
    async def refresh(body: RefreshRequest, identity: IdentityProviderDep) -> TokenResponse:
        return TokenResponse.of(await identity.refresh(body.refresh_token, body.username))

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
    async def logout(_: CurrentUser, token: BearerToken, identity: IdentityProviderDep) -> Response:
        await identity.logout(token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/forgot-password",
        status_code=status.HTTP_202_ACCEPTED,
        responses=error_responses(400, 429),
    )
    async def forgot_password(
        body: ForgotPasswordRequest,
        request: Request,
        identity: IdentityProviderDep,
        limiter: AttemptLimiterDep,
    ) -> MessageResponse:
        await limiter.acquire(
            [
                AttemptKey(Scope.CODE_REQUEST_ACCOUNT, body.username),
                AttemptKey(Scope.CODE_REQUEST_ADDRESS, client_address(request)),
            ]
        )
        await identity.forgot_password(body.username)
        return MessageResponse(message=FORGOT_MESSAGE)

    @router.post(
        "/confirm-forgot-password",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses(400, 404, 429),
    )
    async def confirm_forgot_password(
        body: ConfirmForgotPasswordRequest,
        request: Request,
        identity: IdentityProviderDep,
        limiter: AttemptLimiterDep,
    ) -> Response:
        # The same code counters as /confirm: a new code does not bring new guesses.
        async with _attempt(limiter, CODE_GUESS, body.username, request):
            await identity.confirm_forgot_password(body.username, body.code, body.new_password)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/change-password",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses(400, 401, 429),
    )
    async def change_password(
        body: ChangePasswordRequest,
        user: CurrentUser,
        token: BearerToken,
        request: Request,
        identity: IdentityProviderDep,
        limiter: AttemptLimiterDep,
    ) -> Response:
        # The old password is a password guess: a stolen access token gets no more tries at it
        # than the login form gives.
        async with _attempt(limiter, PASSWORD_GUESS, user.username, request):
            await identity.change_password(token, body.old_password, body.new_password)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/me", responses=error_responses(401, 404))
    async def me(user: CurrentUser, identity: IdentityProviderDep) -> MeResponse:
        email = user.email
        if email is None:  # Cognito access tokens carry no e-mail
            email = (await identity.get_user(user.username)).email
        return MeResponse.of(user, email)

    @router.get("/users", dependencies=[admin], responses=error_responses(400, 401, 403))
    async def list_users(
        identity: IdentityProviderDep,
        limit: Annotated[int, Query(ge=1, le=MAX_USER_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=4096)] = None,
        role: Annotated[str | None, Query(max_length=128)] = None,
    ) -> UserPageResponse:
        page = await identity.list_users(limit=limit, cursor=cursor, role=role)
        return UserPageResponse(
            items=[UserResponse.of(u) for u in page.items], next_cursor=page.next_cursor
        )

    @router.get("/users/{username}", dependencies=[admin], responses=error_responses(401, 403, 404))
    async def get_user(username: str, identity: IdentityProviderDep) -> UserResponse:
        return UserResponse.of(await identity.get_user(username))

    @router.post(
        "/users/{username}/roles",
        dependencies=[admin],
        responses=error_responses(400, 401, 403, 404),
    )
    async def assign_role(
        username: str, body: RoleRequest, identity: IdentityProviderDep
    ) -> UserResponse:
        await identity.assign_role(username, body.role)
        return UserResponse.of(await identity.get_user(username))

    @router.delete(
        "/users/{username}/roles/{role}",
        dependencies=[admin],
        responses=error_responses(401, 403, 404),
    )
    async def remove_role(username: str, role: str, identity: IdentityProviderDep) -> UserResponse:
        await identity.remove_role(username, role)
        return UserResponse.of(await identity.get_user(username))

    @router.post(
        "/users/{username}/disable",
        dependencies=[admin],
        responses=error_responses(401, 403, 404),
    )
    async def disable_user(username: str, identity: IdentityProviderDep) -> UserResponse:
        """Refuse the account's logins and end its sessions and tokens."""
        await identity.disable_user(username)
        return UserResponse.of(await identity.get_user(username))

    @router.post(
        "/users/{username}/enable",
        dependencies=[admin],
        responses=error_responses(401, 403, 404),
    )
    async def enable_user(username: str, identity: IdentityProviderDep) -> UserResponse:
        await identity.enable_user(username)
        return UserResponse.of(await identity.get_user(username))

    @router.delete(
        "/users/{username}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=[admin],
        responses=error_responses(401, 403, 404),
    )
    async def delete_user(username: str, identity: IdentityProviderDep) -> Response:
        """Remove the account, its sessions and codes; its tokens stop working."""
        await identity.delete_user(username)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
