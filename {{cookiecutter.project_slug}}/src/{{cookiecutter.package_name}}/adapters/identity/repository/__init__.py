"""The identity provider whose accounts are the service's own data, on its repository backend.

Where things are:

- ``provider``  ``RepositoryIdentityProvider``: the port's flows, compare-and-set writes
- ``records``   the stored entities (account, session, code) and their registration
- ``tokens``    HS256 token issuing and refresh-secret derivation
- ``passwords`` the password policy, generated passwords, argon2id hashing off the loop
- ``listing``   the user-listing cursor
"""

from .passwords import SYMBOLS, PasswordPolicy, generate_password
from .provider import (
    CODE_FAILED,
    LOGIN_FAILED,
    REFRESH_FAILED,
    RepositoryIdentityProvider,
    RepositorySource,
)
from .records import (
    IdentityAccount,
    IdentityCode,
    IdentitySession,
    identity_specs,
    register_identity_entities,
)

__all__ = [
    "CODE_FAILED",
    "LOGIN_FAILED",
    "REFRESH_FAILED",
    "SYMBOLS",
    "IdentityAccount",
    "IdentityCode",
    "IdentitySession",
    "PasswordPolicy",
    "RepositoryIdentityProvider",
    "RepositorySource",
    "generate_password",
    "identity_specs",
    "register_identity_entities",
]
