"""AWS Cognito user pools through aioboto3 ``cognito-idp`` (fully async).

- One client for the life of the app: ``start()`` enters it, ``close()`` exits it (the lifespan
  calls both).
- App clients with a secret get the ``SECRET_HASH`` on every call that needs it.
- Roles are Cognito groups; a group is created the first time a role is assigned.
- ``list_users`` is one ``ListUsers`` (or ``ListUsersInGroup``) call per page, never one call per
  user; list results therefore carry no roles (``UserInfo.roles is None``).
- Every botocore error becomes a kit error: ``NotAuthorizedException`` ->
  ``AuthenticationFailed``, connection problems -> ``BackendUnavailable``.
- No flow tells whether an account exists. ``register`` of a taken username (Cognito's SignUp
  answers ``UsernameExistsException``) returns a result of the same shape as a new account's
  (a random ``user_sub`` that belongs to no account) and sends the owner an ``ACCOUNT_EXISTS``
  message through ``messages`` (``ports/messages.py``); the pool's password policy is checked
  before SignUp so a weak password is refused alike for taken and free names. ``login`` gives
  one 401 for an unknown user, a wrong password, a disabled and an unconfirmed account (whose
  owner is sent a new code: ResendConfirmationCode). ``confirm_registration`` answers an
  unknown user, and one Cognito refuses to confirm, as a wrong code.
- ``disable_user`` is AdminDisableUser then AdminUserGlobalSignOut (refresh tokens die);
  ``delete_user`` is AdminUserGlobalSignOut then AdminDeleteUser.

Where Cognito differs from the memory provider (both honour the port's contract):

- ``refresh`` is ``InitiateAuth`` with ``REFRESH_TOKEN_AUTH``: no rotation,
  ``AuthTokens.refresh_token`` is ``None`` and the old one stays valid. AWS documents rotating
  app clients (``RefreshTokenRotation``) as refreshing only through ``GetTokensFromRefreshToken``,
  which this adapter does not call: use an app client without rotation.
- With a client secret, ``refresh`` needs the username (Cognito's internal username, which is
  the ``sub`` in pools that sign in by e-mail alias) to compute SECRET_HASH.
- ``logout`` is ``GlobalSignOut``; ``revoke`` is ``RevokeToken`` (the client must allow it).
- Access tokens are verified locally against the JWKS, so one issued before a logout, a
  disable or a delete keeps verifying until it expires (docs/identity.md, "What Cognito
  decides").

Where things are:

- ``provider`` ``CognitoIdentityProvider``, the port's flows as ``cognito-idp`` calls
- ``errors``   botocore errors to kit errors (``translate_errors``, ``translate_client_error``)
- ``mapping``  ``SECRET_HASH``, and Cognito's users, code deliveries and tokens as port types
"""

from .errors import (
    BACKEND,
    CODE_FAILED,
    LOGIN_FAILED,
    REFRESH_FAILED,
    translate_client_error,
    translate_errors,
)
from .mapping import secret_hash
from .provider import CognitoIdentityProvider

__all__ = [
    "BACKEND",
    "CODE_FAILED",
    "LOGIN_FAILED",
    "REFRESH_FAILED",
    "CognitoIdentityProvider",
    "secret_hash",
    "translate_client_error",
    "translate_errors",
]
