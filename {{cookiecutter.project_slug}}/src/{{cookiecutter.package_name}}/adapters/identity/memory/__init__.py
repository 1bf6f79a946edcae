"""The in-process identity provider, for tests, local development and demos.

It is the repository provider (``adapters/identity/repository``) over a memory store of its own:
the same flows and security properties (argon2id, token versions, refresh rotation with a grace
window, codes by digest, no enumeration), so code tested against it does not learn bad habits.
What it cannot give is sharing: each process has its own accounts. A service on a shared
backend uses ``IDENTITY_BACKEND=repository`` (the default there) instead.
"""

from ..repository.passwords import SYMBOLS, PasswordPolicy, generate_password
from ..repository.provider import CODE_FAILED, LOGIN_FAILED, REFRESH_FAILED
from ..repository.records import ROLE_PATTERN, USERNAME_PATTERN
from .provider import MemorySecurityProvider

__all__ = [
    "CODE_FAILED",
    "LOGIN_FAILED",
    "REFRESH_FAILED",
    "ROLE_PATTERN",
    "SYMBOLS",
    "USERNAME_PATTERN",
    "MemorySecurityProvider",
    "PasswordPolicy",
    "generate_password",
]
