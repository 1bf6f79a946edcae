"""AWS Cognito user pools through aioboto3 ``cognito-idp`` (fully async).

- One client for the life of the app: ``start()`` enters it, ``close()`` exits it (the lifespan
  calls both).
- App clients with a secret get the ``SECRET_HASH`` on every call that needs it.
- Roles are Cognito groups; a group is created the first time a role is assigned.
- ``list_users`` is one ``ListUsers`` (or ``ListUsersInGroup``) call per page, never one call per
  user; list results therefore carry no roles (``UserInfo.roles is None``).
- Every botocore error becomes a kit error: ``UsernameExistsException`` -> ``AlreadyExists``,
  ``NotAuthorizedException`` -> ``AuthenticationFailed``, an unknown user at login -> the same
  401 as a wrong password, connection problems -> ``BackendUnavailable``.

Where Cognito differs from the memory provider (both honour the port's contract):

- ``refresh`` does not rotate the refresh token unless the app client has refresh-token
  rotation enabled; ``AuthTokens.refresh_token`` is then ``None`` and the old one stays valid.
- With a client secret, ``refresh`` needs the username (Cognito's internal username, which is
  the ``sub`` in pools that sign in by e-mail alias) to compute SECRET_HASH.
- ``logout`` is ``GlobalSignOut``; ``revoke`` is ``RevokeToken`` (the client must allow it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from ...ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
    BackendUnavailable,
    InvalidCursor,
    InvalidInput,
    InvalidQuery,
    KitError,
    NotFound,
)
from ...ports.identity import (
    MAX_USER_PAGE,
    AuthTokens,
    CodeDelivery,
    PasswordResetResult,
    RegistrationResult,
    UserInfo,
    UserPage,
    unique_roles,
)
from ..aws import OwnedClient

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient
    from types_aiobotocore_cognito_idp.type_defs import AttributeTypeTypeDef

logger = logging.getLogger(__name__)

BACKEND = "Cognito"
LOGIN_FAILED = "Incorrect username or password"
REFRESH_FAILED = "Refresh token is invalid, expired or revoked"
CODE_FAILED = "Invalid or expired code; request a new one"

# Error codes that mean "try later" rather than "you are wrong".
_UNAVAILABLE = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "InternalErrorException",
        "InternalError",
        "ServiceUnavailable",
        "ThrottlingException",
    }
)


class _Quiet(KitError):
    """Internal: an expected Cognito answer the adapter handles itself (never escapes)."""


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    digest = hmac.new(
        client_secret.encode(), (username + client_id).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or _error_code(exc)


def translate_client_error(exc: ClientError, overrides: Mapping[str, KitError]) -> KitError:
    code = _error_code(exc)
    if code in overrides:
        return overrides[code]
    if code == "NotAuthorizedException":
        return AuthenticationFailed(_error_message(exc))
    if code == "UserNotConfirmedException":
        return AuthenticationFailed("User is not confirmed")
    if code == "PasswordResetRequiredException":
        return AuthenticationFailed("Password reset required")
    if code == "InvalidPasswordException":
        return InvalidInput(f"Password does not meet the policy: {_error_message(exc)}")
    if code in ("CodeMismatchException", "ExpiredCodeException", "TooManyFailedAttemptsException"):
        return InvalidInput(CODE_FAILED)
    if code == "InvalidParameterException":
        return InvalidInput(_error_message(exc))
    if code == "ResourceNotFoundException":
        return BackendUnavailable(BACKEND, "user pool or app client not found (check settings)")
    if code in _UNAVAILABLE:
        return BackendUnavailable(BACKEND, code)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
    if status >= 500:
        return BackendUnavailable(BACKEND, code)
    return BackendUnavailable(BACKEND, f"unexpected error {code}")


def _attributes(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(a["Name"]): str(a.get("Value", "")) for a in items or ()}


def _user_info(raw: Mapping[str, Any], roles: tuple[str, ...] | None) -> UserInfo:
    attributes = _attributes(raw.get("UserAttributes") or raw.get("Attributes"))
    created = raw.get("UserCreateDate")
    return UserInfo(
        username=str(raw["Username"]),
        subject=attributes.get("sub", str(raw["Username"])),
        email=attributes.get("email"),
        status=str(raw.get("UserStatus", "UNKNOWN")),
        enabled=bool(raw.get("Enabled", True)),
        roles=roles,
        created_at=created if isinstance(created, datetime) else None,
        attributes=attributes,
    )


def _delivery(raw: Mapping[str, Any] | None) -> CodeDelivery | None:
    if not raw:
        return None
    return CodeDelivery(
        medium=str(raw.get("DeliveryMedium", "")),
        destination=str(raw.get("Destination", "")),
        attribute=raw.get("AttributeName"),
    )


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
        with self._errors():
            await self.client.describe_user_pool(UserPoolId=self.user_pool_id)

    @property
    def client(self) -> CognitoIdentityProviderClient:
        """The open ``cognito-idp`` client (for event hooks or calls the port does not cover)."""
        if self._client is None:
            raise RuntimeError("CognitoIdentityProvider is not started: await start() first")
        return self._client

    # --- helpers -------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, **overrides: KitError) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            raise translate_client_error(exc, overrides) from exc
        except BotoCoreError as exc:
            logger.warning("Cognito unreachable: %r", exc)
            raise BackendUnavailable(BACKEND, "the identity service did not answer") from exc

    def _hash_for(self, username: str) -> dict[str, Any]:
        if self._client_secret is None:
            return {}
        return {"SecretHash": secret_hash(username, self.client_id, self._client_secret)}

    def _auth_hash(self, username: str) -> dict[str, str]:
        if self._client_secret is None:
            return {}
        return {"SECRET_HASH": secret_hash(username, self.client_id, self._client_secret)}

    @staticmethod
    def _tokens(response: Mapping[str, Any]) -> AuthTokens:
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
        with self._errors(UsernameExistsException=AlreadyExists("user", "username", username)):
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
            delivery=_delivery(response.get("CodeDeliveryDetails")),
        )

    async def confirm_registration(self, username: str, code: str) -> None:
        with self._errors(UserNotFoundException=InvalidInput(CODE_FAILED)):
            await self.client.confirm_sign_up(
                ClientId=self.client_id,
                Username=username,
                ConfirmationCode=code,
                **self._hash_for(username),
            )

    async def login(self, username: str, password: str) -> AuthTokens:
        failed = AuthenticationFailed(LOGIN_FAILED)
        with self._errors(UserNotFoundException=failed, NotAuthorizedException=failed):
            response = await self.client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={
                    "USERNAME": username,
                    "PASSWORD": password,
                    **self._auth_hash(username),
                },
            )
        return self._tokens(response)

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        parameters = {"REFRESH_TOKEN": refresh_token}
        if self._client_secret is not None:
            if not username:
                raise InvalidInput("username is required to refresh with this app client")
            parameters.update(self._auth_hash(username))
        failed = AuthenticationFailed(REFRESH_FAILED)
        with self._errors(NotAuthorizedException=failed, UserNotFoundException=failed):
            response = await self.client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters=parameters,
            )
        return self._tokens(response)

    async def logout(self, access_token: str) -> None:
        with self._errors(NotAuthorizedException=AuthenticationFailed("Access token is invalid")):
            await self.client.global_sign_out(AccessToken=access_token)

    async def revoke(self, refresh_token: str, username: str | None = None) -> None:
        extra = {"ClientSecret": self._client_secret} if self._client_secret else {}
        with self._errors(UnsupportedTokenTypeException=InvalidInput("Not a refresh token")):
            await self.client.revoke_token(Token=refresh_token, ClientId=self.client_id, **extra)

    async def forgot_password(self, username: str) -> PasswordResetResult:
        quiet = _Quiet("no code sent")
        try:
            with self._errors(
                UserNotFoundException=quiet,
                NotAuthorizedException=quiet,
                InvalidParameterException=quiet,
            ):
                response = await self.client.forgot_password(
                    ClientId=self.client_id, Username=username, **self._hash_for(username)
                )
        except _Quiet:
            # Unknown user, unverified contact, admin-only recovery: answer as if a code went out.
            return PasswordResetResult(delivery=None)
        return PasswordResetResult(delivery=_delivery(response.get("CodeDeliveryDetails")))

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        with self._errors(UserNotFoundException=InvalidInput(CODE_FAILED)):
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
        with self._errors(
            NotAuthorizedException=AuthenticationFailed("Incorrect password or invalid token")
        ):
            await self.client.change_password(
                AccessToken=access_token,
                PreviousPassword=old_password,
                ProposedPassword=new_password,
            )

    async def get_user(self, username: str) -> UserInfo:
        not_found = NotFound("user", username)
        with self._errors(UserNotFoundException=not_found):
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
        return _user_info(raw, tuple(sorted(set(roles))))

    async def ensure_user(
        self, username: str, email: str, password: str, roles: Sequence[str] = ()
    ) -> UserInfo:
        exists = _Quiet(username)
        try:
            with self._errors(UsernameExistsException=exists):
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
            with self._errors():
                await self.client.admin_set_user_password(
                    UserPoolId=self.user_pool_id,
                    Username=username,
                    Password=password,
                    Permanent=True,
                )
        except _Quiet:
            pass  # already there: its password stays its owner's
        for role in unique_roles(roles):
            await self.assign_role(username, role)
        return await self.get_user(username)

    async def assign_role(self, username: str, role: str) -> None:
        not_found = NotFound("user", username)
        try:
            with self._errors(
                UserNotFoundException=not_found, ResourceNotFoundException=_Quiet(role)
            ):
                await self.client.admin_add_user_to_group(
                    UserPoolId=self.user_pool_id, Username=username, GroupName=role
                )
            return
        except _Quiet:
            pass
        # The group does not exist yet: create it (a concurrent creator is fine), then retry.
        with suppress(_Quiet), self._errors(GroupExistsException=_Quiet(role)):
            await self.client.create_group(UserPoolId=self.user_pool_id, GroupName=role)
        with self._errors(UserNotFoundException=not_found):
            await self.client.admin_add_user_to_group(
                UserPoolId=self.user_pool_id, Username=username, GroupName=role
            )

    async def remove_role(self, username: str, role: str) -> None:
        not_found = NotFound("user", username)
        try:
            with self._errors(
                UserNotFoundException=not_found, ResourceNotFoundException=_Quiet(role)
            ):
                await self.client.admin_remove_user_from_group(
                    UserPoolId=self.user_pool_id, Username=username, GroupName=role
                )
        except _Quiet:
            # No such group, so the user does not hold the role; still 404 an unknown user.
            with self._errors(UserNotFoundException=not_found):
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
            with self._errors(**overrides):
                listed = await self.client.list_users(
                    UserPoolId=self.user_pool_id,
                    Limit=limit,
                    **({"PaginationToken": cursor} if cursor else {}),
                )
            raw_users, next_cursor = listed.get("Users", []), listed.get("PaginationToken")
        else:
            try:
                with self._errors(ResourceNotFoundException=_Quiet(role), **overrides):
                    in_group = await self.client.list_users_in_group(
                        UserPoolId=self.user_pool_id,
                        GroupName=role,
                        Limit=limit,
                        **({"NextToken": cursor} if cursor else {}),
                    )
            except _Quiet:
                return UserPage(())  # no such group: nobody holds the role
            raw_users, next_cursor = in_group.get("Users", []), in_group.get("NextToken")
        items = tuple(_user_info(u, None) for u in raw_users)
        return UserPage(items, next_cursor or None)
