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
