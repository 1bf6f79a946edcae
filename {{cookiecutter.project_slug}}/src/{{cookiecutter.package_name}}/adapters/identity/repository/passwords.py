"""Passwords of the repository (and memory) provider: policy, generation, argon2id hashing.

The policy is Cognito's default, so both adapters accept and refuse the same passwords. Hashing
and verifying run in a worker thread: argon2 is deliberately slow and would stall the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ....ports.errors import InvalidInput

SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Cognito's default policy, so both adapters accept and refuse the same passwords."""

    min_length: int = 8
    max_length: int = 256
    require_lowercase: bool = True
    require_uppercase: bool = True
    require_digit: bool = True
    require_symbol: bool = True

    def check(self, password: str) -> None:
        missing: list[str] = []
        if not self.min_length <= len(password) <= self.max_length:
            missing.append(f"{self.min_length} to {self.max_length} characters")
        if self.require_lowercase and not any(c.islower() for c in password):
            missing.append("a lowercase letter")
        if self.require_uppercase and not any(c.isupper() for c in password):
            missing.append("an uppercase letter")
        if self.require_digit and not any(c.isdigit() for c in password):
            missing.append("a digit")
        if self.require_symbol and not any(c in SYMBOLS or c == " " for c in password):
            missing.append("a symbol")
        if missing:
            raise InvalidInput("Password does not meet the policy: needs " + ", ".join(missing))


def generate_password(length: int = 20) -> str:
    """A random password that satisfies the default policy."""
    alphabet = string.ascii_letters + string.digits + "!#%&*+-=?@^_~"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        try:
            PasswordPolicy().check(candidate)
        except InvalidInput:
            continue
        return candidate


async def hash_password(hasher: PasswordHasher, password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """``False`` for a wrong password and for a hash argon2 cannot read alike."""

    def verify() -> bool:
        try:
            return hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
