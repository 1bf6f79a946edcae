"""In-memory identity provider for tests, local development and sandboxes.

Not a toy, though: it keeps the security properties a real provider has, so code tested against
it does not learn bad habits.

- Passwords are argon2id hashes (argon2-cffi), hashed and verified off the event loop.
- Login does the same argon2 work for an unknown user (a dummy hash) as for a wrong password, and
  gives the same message: accounts cannot be enumerated by message or timing.
- Tokens are HS256 JWTs with ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti``, ``token_use``
  and a ``kid`` header; :class:`...tokens.hs256.Hs256TokenVerifier` verifies them.
- Refresh tokens are opaque random strings stored as SHA-256 digests. A refresh rotates them: the
  old one is revoked, and presenting a revoked one again (a replay) revokes the whole session.
- Confirmation and reset codes come from ``secrets``, expire, allow a few attempts, are stored
  as digests and are NEVER returned by a method: they go to the injectable ``code_sink``
  (tests read them there; the default sink logs them for a developer's sandbox).
- Seeded role users (``seed_role_users``) get a configured or generated password, delivered
  through the same sink; there is no fixed literal password.

Where things are:

- ``provider``  ``MemorySecurityProvider``, the port's flows over one lock
- ``passwords`` the password policy, generated passwords, argon2id hashing off the loop
- ``sessions``  HS256 token issuing and refresh-token families (rotation, replay detection)
- ``codes``     one-time codes and the sinks that deliver them
- ``users``     the stored account record, name rules, the user-listing cursor
"""

from .codes import (
    CODE_FAILED,
    CodePurpose,
    CodeSink,
    IssuedCode,
    discard_code_sink,
    logging_code_sink,
)
from .passwords import SYMBOLS, PasswordPolicy, generate_password
from .provider import LOGIN_FAILED, MemorySecurityProvider
from .sessions import REFRESH_FAILED
from .users import ROLE_PATTERN, USERNAME_PATTERN

__all__ = [
    "CODE_FAILED",
    "LOGIN_FAILED",
    "REFRESH_FAILED",
    "ROLE_PATTERN",
    "SYMBOLS",
    "USERNAME_PATTERN",
    "CodePurpose",
    "CodeSink",
    "IssuedCode",
    "MemorySecurityProvider",
    "PasswordPolicy",
    "discard_code_sink",
    "generate_password",
    "logging_code_sink",
]
