"""``CognitoIdentityProvider``: the identity port's flows as ``cognito-idp`` calls."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig

from ....ports.errors import (
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
from ....ports.messages import MessagePurpose, MessageSender, OutgoingMessage
from ...aws import OwnedClient
from ...messages import LoggingMessageSender
from .errors import CODE_FAILED, LOGIN_FAILED, REFRESH_FAILED, Quiet, translate_errors
from .mapping import (
    auth_tokens,
    code_delivery,
    password_problem,
    secret_hash,
    simulated_delivery,
    user_info,
)

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient
    from types_aiobotocore_cognito_idp.type_defs import AttributeTypeTypeDef

logger = logging.getLogger(__name__)

POOL_SETTINGS_SECONDS = 300.0  # how long the pool's password policy and verified attributes hold


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
        messages: MessageSender | None = None,
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
        # Cognito sends its own codes; this gets the adapter's notices (ACCOUNT_EXISTS).
        self._messages: MessageSender = messages or LoggingMessageSender()
        self._pool_settings: tuple[float, Mapping[str, Any]] | None = None

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

    async def _pool(self) -> Mapping[str, Any] | None:
        """The pool's settings (``DescribeUserPool``), cached; ``None`` when they can't be read."""
        now = time.monotonic()
        if self._pool_settings is not None and now - self._pool_settings[0] < POOL_SETTINGS_SECONDS:
            return self._pool_settings[1]
        try:
            with translate_errors():
                response = await self.client.describe_user_pool(UserPoolId=self.user_pool_id)
        except KitError as exc:
            logger.warning("could not read the user pool's settings: %s", exc)
            return None
        pool: Mapping[str, Any] = response.get("UserPool", {})
        self._pool_settings = (now, pool)
        return pool

    async def _owner_email(self, username: str) -> str | None:
        try:
            with translate_errors():
                raw = await self.client.admin_get_user(
                    UserPoolId=self.user_pool_id, Username=username
                )
        except KitError as exc:
            logger.warning("could not read the e-mail of an existing account: %s", exc)
            return None
        return user_info(raw, None).email

    async def _notify(self, message: OutgoingMessage) -> None:
        # The flow's answer must not depend on the delivery: a failure here would tell the caller
        # that the account exists.
        try:
            await self._messages.send(message)
        except Exception:
            logger.exception("could not send the %s message", message.purpose)

    async def _resend_confirmation(self, username: str) -> None:
        try:
            with translate_errors():
                await self.client.resend_confirmation_code(
                    ClientId=self.client_id, Username=username, **self._hash_for(username)
                )
        except KitError as exc:
            logger.warning("could not resend a confirmation code: %s", exc)

    async def _sign_out_everywhere(self, username: str) -> None:
        """``AdminUserGlobalSignOut``: the user's refresh tokens stop working."""
        try:
            with translate_errors(
                UserNotFoundException=NotFound("user", username),
                NotAuthorizedException=Quiet(username),
            ):
                await self.client.admin_user_global_sign_out(
                    UserPoolId=self.user_pool_id, Username=username
                )
        except Quiet:
            # Cognito refused to sign this user out (e.g. already disabled): the disable or
            # delete goes on; logged, as its refresh tokens may outlive it.
            logger.warning("Cognito refused AdminUserGlobalSignOut; refresh tokens may survive")

    # --- IdentityProvider ----------------------------------------------------------------------

    async def register(
        self,
        username: str,
        password: str,
        email: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RegistrationResult:
        pool = await self._pool()
        # Checked here too, so a weak password is refused alike whether or not the name is taken
        # (SignUp may report the taken name without looking at the password: moto does).
        problem = password_problem(password, (pool or {}).get("Policies", {}).get("PasswordPolicy"))
        if problem:
            raise InvalidInput(f"Password does not meet the policy: {problem}")
        user_attributes: list[AttributeTypeTypeDef] = [{"Name": "email", "Value": email}]
        user_attributes += [
            {"Name": k, "Value": v} for k, v in (attributes or {}).items() if k != "email"
        ]
        try:
            with translate_errors(UsernameExistsException=Quiet(username)):
                response = await self.client.sign_up(
                    ClientId=self.client_id,
                    Username=username,
                    Password=password,
                    UserAttributes=user_attributes,
                    **self._hash_for(username),
                )
        except Quiet:
            # Taken: answer as for a new account (a subject that belongs to no account) and tell
            # the owner instead. Cognito's SignUp itself would say UsernameExistsException.
            owner_email = await self._owner_email(username)
            await self._notify(
                OutgoingMessage(
                    purpose=MessagePurpose.ACCOUNT_EXISTS, username=username, email=owner_email
                )
            )
            auto_verified = None if pool is None else pool.get("AutoVerifiedAttributes", [])
            return RegistrationResult(
                username=username,
                user_sub=str(uuid.uuid4()),
                confirmed=False,
                delivery=simulated_delivery(email, attributes, auto_verified),
            )
        return RegistrationResult(
            username=username,
            user_sub=response["UserSub"],
            confirmed=response["UserConfirmed"],
            delivery=code_delivery(response.get("CodeDeliveryDetails")),
        )

    async def confirm_registration(self, username: str, code: str) -> None:
        # An unknown user, or one Cognito refuses to confirm (NotAuthorizedException, such as an
        # account already confirmed): the same answer as a wrong code.
        failed = InvalidInput(CODE_FAILED)
        with translate_errors(UserNotFoundException=failed, NotAuthorizedException=failed):
            await self.client.confirm_sign_up(
                ClientId=self.client_id,
                Username=username,
                ConfirmationCode=code,
                **self._hash_for(username),
            )

    async def login(self, username: str, password: str) -> AuthTokens:
        # One message for an unknown user, a wrong password, a disabled account (Cognito:
        # NotAuthorizedException) and an unconfirmed one (UserNotConfirmedException: its owner is
        # sent a new code, best effort).
        failed = AuthenticationFailed(LOGIN_FAILED)
        try:
            with translate_errors(
                UserNotFoundException=failed,
                NotAuthorizedException=failed,
                UserNotConfirmedException=Quiet(username),
            ):
                response = await self.client.initiate_auth(
                    ClientId=self.client_id,
                    AuthFlow="USER_PASSWORD_AUTH",
                    AuthParameters={
                        "USERNAME": username,
                        "PASSWORD": password,
                        **self._auth_hash(username),
                    },
                )
        except Quiet:
            await self._resend_confirmation(username)
            raise failed from None
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

    async def disable_user(self, username: str) -> None:
        with translate_errors(UserNotFoundException=NotFound("user", username)):
            await self.client.admin_disable_user(UserPoolId=self.user_pool_id, Username=username)
        # Disabled first, so no login slips in between; then the refresh tokens die too.
        await self._sign_out_everywhere(username)

    async def enable_user(self, username: str) -> None:
        with translate_errors(UserNotFoundException=NotFound("user", username)):
            await self.client.admin_enable_user(UserPoolId=self.user_pool_id, Username=username)

    async def delete_user(self, username: str) -> None:
        # Signed out first: the sessions end explicitly, whatever the deletion does to them.
        await self._sign_out_everywhere(username)
        with translate_errors(UserNotFoundException=NotFound("user", username)):
            await self.client.admin_delete_user(UserPoolId=self.user_pool_id, Username=username)

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
