"""``CognitoIdentityProvider``: the identity port's flows as ``cognito-idp`` calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig

from ....ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidCursor,
    InvalidInput,
    InvalidQuery,
    KitError,
    NotFound,
)
from ....ports.identity import (
    MAX_USER_PAGE,
    AuthTokens,
    PasswordResetResult,
    RegistrationResult,
    UserInfo,
    UserPage,
    unique_roles,
)
from ...aws import OwnedClient
from .errors import CODE_FAILED, LOGIN_FAILED, REFRESH_FAILED, Quiet, translate_errors
from .mapping import auth_tokens, code_delivery, secret_hash, user_info

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient
    from types_aiobotocore_cognito_idp.type_defs import AttributeTypeTypeDef


class CognitoIdentityProvider:
    def __init__(
        self,
        *,
        user_pool_id: str,
        client_id: str,
        client_secret: str | None = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        session: aioboto3.Session | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        connect_timeout_seconds: float = 5,
        read_timeout_seconds: float = 10,
        max_attempts: int = 3,
    ) -> None:
        if not user_pool_id or not client_id:
            raise ValueError("Cognito needs a user pool id and an app client id")
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self._client_secret = client_secret or None
        self._region = region
        self._endpoint_url = endpoint_url
        self._session = session or aioboto3.Session(
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            region_name=region,
        )
        self._config = AioConfig(
            connect_timeout=connect_timeout_seconds,
            read_timeout=read_timeout_seconds,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        self._owned: OwnedClient[CognitoIdentityProviderClient] = OwnedClient()
        self._client: CognitoIdentityProviderClient | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is not None:
            return
        self._client = await self._owned.open(
            self._session.client(
                "cognito-idp",
                region_name=self._region,
                endpoint_url=self._endpoint_url,
                config=self._config,
            )
        )

    async def close(self) -> None:
        self._client = None
        await self._owned.close()

    async def ping(self) -> None:
        """Readiness: the pool answers (needs ``cognito-idp:DescribeUserPool``)."""
        with translate_errors():
            await self.client.describe_user_pool(UserPoolId=self.user_pool_id)

    @property
    def client(self) -> CognitoIdentityProviderClient:
        """The open ``cognito-idp`` client (for event hooks or calls the port does not cover)."""
        if self._client is None:
            raise RuntimeError("CognitoIdentityProvider is not started: await start() first")
        return self._client

    # --- helpers -------------------------------------------------------------------------------

    def _hash_for(self, username: str) -> dict[str, Any]:
        if self._client_secret is None:
            return {}
        return {"SecretHash": secret_hash(username, self.client_id, self._client_secret)}

    def _auth_hash(self, username: str) -> dict[str, str]:
        if self._client_secret is None:
            return {}
        return {"SECRET_HASH": secret_hash(username, self.client_id, self._client_secret)}

    # --- IdentityProvider ----------------------------------------------------------------------

    async def register(
        self,
        username: str,
        password: str,
        email: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RegistrationResult:
        user_attributes: list[AttributeTypeTypeDef] = [{"Name": "email", "Value": email}]
        user_attributes += [
            {"Name": k, "Value": v} for k, v in (attributes or {}).items() if k != "email"
        ]
        with translate_errors(UsernameExistsException=AlreadyExists("user", "username", username)):
            response = await self.client.sign_up(
                ClientId=self.client_id,
                Username=username,
                Password=password,
                UserAttributes=user_attributes,
                **self._hash_for(username),
            )
        return RegistrationResult(
            username=username,
            user_sub=response["UserSub"],
            confirmed=response["UserConfirmed"],
            delivery=code_delivery(response.get("CodeDeliveryDetails")),
        )

    async def confirm_registration(self, username: str, code: str) -> None:
        with translate_errors(UserNotFoundException=InvalidInput(CODE_FAILED)):
            await self.client.confirm_sign_up(
                ClientId=self.client_id,
                Username=username,
                ConfirmationCode=code,
                **self._hash_for(username),
            )

    async def login(self, username: str, password: str) -> AuthTokens:
        failed = AuthenticationFailed(LOGIN_FAILED)
        with translate_errors(UserNotFoundException=failed, NotAuthorizedException=failed):
            response = await self.client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={
                    "USERNAME": username,
                    "PASSWORD": password,
                    **self._auth_hash(username),
                },
            )
        return auth_tokens(response)

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        parameters = {"REFRESH_TOKEN": refresh_token}
        if self._client_secret is not None:
            if not username:
                raise InvalidInput("username is required to refresh with this app client")
            parameters.update(self._auth_hash(username))
        failed = AuthenticationFailed(REFRESH_FAILED)
        with translate_errors(NotAuthorizedException=failed, UserNotFoundException=failed):
            response = await self.client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters=parameters,
            )
        return auth_tokens(response)

    async def logout(self, access_token: str) -> None:
        with translate_errors(
            NotAuthorizedException=AuthenticationFailed("Access token is invalid")
        ):
            await self.client.global_sign_out(AccessToken=access_token)

    async def revoke(self, refresh_token: str, username: str | None = None) -> None:
        extra = {"ClientSecret": self._client_secret} if self._client_secret else {}
        with translate_errors(UnsupportedTokenTypeException=InvalidInput("Not a refresh token")):
            await self.client.revoke_token(Token=refresh_token, ClientId=self.client_id, **extra)

    async def forgot_password(self, username: str) -> PasswordResetResult:
        quiet = Quiet("no code sent")
        try:
            with translate_errors(
                UserNotFoundException=quiet,
                NotAuthorizedException=quiet,
                InvalidParameterException=quiet,
            ):
                response = await self.client.forgot_password(
                    ClientId=self.client_id, Username=username, **self._hash_for(username)
                )
        except Quiet:
            # Unknown user, unverified contact, admin-only recovery: answer as if a code went out.
            return PasswordResetResult(delivery=None)
        return PasswordResetResult(delivery=code_delivery(response.get("CodeDeliveryDetails")))

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        with translate_errors(UserNotFoundException=InvalidInput(CODE_FAILED)):
            await self.client.confirm_forgot_password(
                ClientId=self.client_id,
                Username=username,
                ConfirmationCode=code,
                Password=new_password,
                **self._hash_for(username),
            )

    async def change_password(
        self, access_token: str, old_password: str, new_password: str
    ) -> None:
        with translate_errors(
            NotAuthorizedException=AuthenticationFailed("Incorrect password or invalid token")
        ):
            await self.client.change_password(
                AccessToken=access_token,
                PreviousPassword=old_password,
                ProposedPassword=new_password,
            )

    async def get_user(self, username: str) -> UserInfo:
        not_found = NotFound("user", username)
        with translate_errors(UserNotFoundException=not_found):
            raw = await self.client.admin_get_user(UserPoolId=self.user_pool_id, Username=username)
            roles: list[str] = []
            token: str | None = None
            while True:
                page = await self.client.admin_list_groups_for_user(
                    UserPoolId=self.user_pool_id,
                    Username=username,
                    Limit=60,
                    **({"NextToken": token} if token else {}),
                )
                roles += [str(g["GroupName"]) for g in page.get("Groups", [])]
                token = page.get("NextToken")
                if not token:
                    break
        return user_info(raw, tuple(sorted(set(roles))))

    async def ensure_user(
        self, username: str, email: str, password: str, roles: Sequence[str] = ()
    ) -> UserInfo:
        exists = Quiet(username)
        try:
            with translate_errors(UsernameExistsException=exists):
                await self.client.admin_create_user(
                    UserPoolId=self.user_pool_id,
                    Username=username,
                    UserAttributes=[
                        {"Name": "email", "Value": email},
                        {"Name": "email_verified", "Value": "true"},
                    ],
                    TemporaryPassword=password,
                    MessageAction="SUPPRESS",
                )
            with translate_errors():
                await self.client.admin_set_user_password(
                    UserPoolId=self.user_pool_id,
                    Username=username,
                    Password=password,
                    Permanent=True,
                )
        except Quiet:
            pass  # already there: its password stays its owner's
        for role in unique_roles(roles):
            await self.assign_role(username, role)
        return await self.get_user(username)

    async def assign_role(self, username: str, role: str) -> None:
        not_found = NotFound("user", username)
        try:
            with translate_errors(
                UserNotFoundException=not_found, ResourceNotFoundException=Quiet(role)
            ):
                await self.client.admin_add_user_to_group(
                    UserPoolId=self.user_pool_id, Username=username, GroupName=role
                )
            return
        except Quiet:
            pass
        # The group does not exist yet: create it (a concurrent creator is fine), then retry.
        with suppress(Quiet), translate_errors(GroupExistsException=Quiet(role)):
            await self.client.create_group(UserPoolId=self.user_pool_id, GroupName=role)
        with translate_errors(UserNotFoundException=not_found):
            await self.client.admin_add_user_to_group(
                UserPoolId=self.user_pool_id, Username=username, GroupName=role
            )

    async def remove_role(self, username: str, role: str) -> None:
        not_found = NotFound("user", username)
        try:
            with translate_errors(
                UserNotFoundException=not_found, ResourceNotFoundException=Quiet(role)
            ):
                await self.client.admin_remove_user_from_group(
                    UserPoolId=self.user_pool_id, Username=username, GroupName=role
                )
        except Quiet:
            # No such group, so the user does not hold the role; still 404 an unknown user.
            with translate_errors(UserNotFoundException=not_found):
                await self.client.admin_get_user(UserPoolId=self.user_pool_id, Username=username)

    async def list_users(
        self, limit: int = 50, cursor: str | None = None, role: str | None = None
    ) -> UserPage:
        if not 1 <= limit <= MAX_USER_PAGE:
            raise InvalidQuery(f"limit must be between 1 and {MAX_USER_PAGE}")
        overrides: dict[str, KitError] = {}
        if cursor is not None:
            bad_cursor = InvalidCursor("cursor is not valid for this listing")
            overrides["InvalidParameterException"] = bad_cursor
            overrides["InvalidToken"] = bad_cursor
        raw_users: Sequence[Mapping[str, Any]]
        if role is None:
            with translate_errors(**overrides):
                listed = await self.client.list_users(
                    UserPoolId=self.user_pool_id,
                    Limit=limit,
                    **({"PaginationToken": cursor} if cursor else {}),
                )
            raw_users, next_cursor = listed.get("Users", []), listed.get("PaginationToken")
        else:
            try:
                with translate_errors(ResourceNotFoundException=Quiet(role), **overrides):
                    in_group = await self.client.list_users_in_group(
                        UserPoolId=self.user_pool_id,
                        GroupName=role,
                        Limit=limit,
                        **({"NextToken": cursor} if cursor else {}),
                    )
            except Quiet:
                return UserPage(())  # no such group: nobody holds the role
            raw_users, next_cursor = in_group.get("Users", []), in_group.get("NextToken")
        items = tuple(user_info(u, None) for u in raw_users)
        return UserPage(items, next_cursor or None)
