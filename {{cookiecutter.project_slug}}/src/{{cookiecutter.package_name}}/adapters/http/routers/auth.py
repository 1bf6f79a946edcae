"""``/auth`` routes over the ``IdentityProvider`` port (memory or Cognito, same behaviour).

Anonymous: register, confirm, login, refresh, forgot-password, confirm-forgot-password.
Signed in: logout, change-password, me. Admin role (``admin_role``): list users, assign and
remove roles. Codes and passwords never appear in a response; forgot-password answers the same
whether or not the account exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ....ports.identity import MAX_USER_PAGE, AuthTokens, Principal, UserInfo
from ..deps import IdentityProviderDep
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


def build_auth_router(*, prefix: str = "/auth", admin_role: str = "admin") -> APIRouter:
    router = PrefixRouter(prefix=prefix, tags=["auth"])
    admin = Depends(require_roles(admin_role))

    @router.post(
        "/register", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 409)
    )
    async def register(body: RegisterRequest, identity: IdentityProviderDep) -> RegisterResponse:
        result = await identity.register(body.username, body.password, body.email)
        return RegisterResponse(
            username=result.username,
            user_sub=result.user_sub,
            confirmed=result.confirmed,
            code_delivery_medium=result.delivery.medium if result.delivery else None,
            code_destination=result.delivery.destination if result.delivery else None,
        )

    @router.post(
        "/confirm", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(400, 404)
    )
    async def confirm(body: ConfirmRequest, identity: IdentityProviderDep) -> Response:
        await identity.confirm_registration(body.username, body.code)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/login", responses=error_responses(400, 401))
    async def login(body: LoginRequest, identity: IdentityProviderDep) -> TokenResponse:
        return TokenResponse.of(await identity.login(body.username, body.password))

    @router.post("/refresh", responses=error_responses(400, 401))
    async def refresh(body: RefreshRequest, identity: IdentityProviderDep) -> TokenResponse:
        return TokenResponse.of(await identity.refresh(body.refresh_token, body.username))

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
    async def logout(_: CurrentUser, token: BearerToken, identity: IdentityProviderDep) -> Response:
        await identity.logout(token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/forgot-password", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(400)
    )
    async def forgot_password(
        body: ForgotPasswordRequest, identity: IdentityProviderDep
    ) -> MessageResponse:
        await identity.forgot_password(body.username)
        return MessageResponse(message=FORGOT_MESSAGE)

    @router.post(
        "/confirm-forgot-password",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses(400, 404),
    )
    async def confirm_forgot_password(
        body: ConfirmForgotPasswordRequest, identity: IdentityProviderDep
    ) -> Response:
        await identity.confirm_forgot_password(body.username, body.code, body.new_password)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/change-password",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses(400, 401),
    )
    async def change_password(
        body: ChangePasswordRequest,
        _: CurrentUser,
        token: BearerToken,
        identity: IdentityProviderDep,
    ) -> Response:
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

    return router
