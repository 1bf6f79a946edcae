"""In-memory identity provider for tests, local development and sandboxes.

Not a toy, though: it keeps the security properties a real provider has, so code tested against
it does not learn bad habits.

- Passwords are argon2id hashes (argon2-cffi), hashed and verified off the event loop.
- Login does the same argon2 work for an unknown user (a dummy hash) as for a wrong password, and
  gives the same message: accounts cannot be enumerated by message or timing.
- Tokens are HS256 JWTs with ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti``, ``token_use``
  and a ``kid`` header; :class:`..tokens.hs256.Hs256TokenVerifier` verifies them.
- Refresh tokens are opaque random strings stored as SHA-256 digests. A refresh rotates them: the
  old one is revoked, and presenting a revoked one again (a replay) revokes the whole session.
- Confirmation and reset codes come from ``secrets``, expire, allow a few attempts, are stored
  as digests and are NEVER returned by a method: they go to the injectable ``code_sink``
  (tests read them there; the default sink logs them for a developer's sandbox).
- Seeded role users (``seed_role_users``) get a configured or generated password, delivered
  through the same sink; there is no fixed literal password.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ...ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidCursor,
    InvalidInput,
    InvalidQuery,
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
    UserStatus,
    unique_roles,
)
from ..tokens.hs256 import ALGORITHM, DEFAULT_KEY_ID, Hs256TokenVerifier

logger = logging.getLogger(__name__)

LOGIN_FAILED = "Incorrect username or password"
REFRESH_FAILED = "Refresh token is invalid, expired or revoked"
CODE_FAILED = "Invalid or expired code; request a new one"
ROLE_PATTERN = re.compile(r"^[A-Za-z0-9_.:@+=,-]{1,128}$")
USERNAME_PATTERN = re.compile(r"^[^\s]{1,128}$")
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"


class CodePurpose:
    CONFIRM_REGISTRATION = "confirm_registration"
    RESET_PASSWORD = "reset_password"
    SEED_PASSWORD = "seed_password"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A secret the provider would e-mail in real life: a code, or a seeded user's password."""

    purpose: str
    username: str
    email: str | None
    code: str = field(repr=False)


CodeSink = Callable[[IssuedCode], None]


def logging_code_sink(issued: IssuedCode) -> None:
    """Default sink for a developer's sandbox: the code goes to the log (never to a response)."""
    logger.warning(
        "memory identity provider (sandbox only): %s for %r: %s",
        issued.purpose,
        issued.username,
        issued.code,
    )


def discard_code_sink(issued: IssuedCode) -> None:
    """Deliver nowhere (a deployment that must not log secrets)."""
    logger.info("memory identity provider: %s issued for %r", issued.purpose, issued.username)


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


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return "***"
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


@dataclass(slots=True)
class _User:
    username: str
    subject: str
    email: str
    password_hash: str
    status: str
    created_at: datetime
    enabled: bool = True
    roles: set[str] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=dict)

    def info(self, *, with_roles: bool) -> UserInfo:
        return UserInfo(
            username=self.username,
            subject=self.subject,
            email=self.email,
            status=self.status,
            enabled=self.enabled,
            roles=tuple(sorted(self.roles)) if with_roles else None,
            created_at=self.created_at,
            attributes=dict(self.attributes),
        )


@dataclass(slots=True)
class _PendingCode:
    digest: bytes
    expires_at: float
    attempts_left: int


@dataclass(slots=True)
class _RefreshRecord:
    username: str
    session: str
    expires_at: float
    revoked: bool = False


class MemorySecurityProvider:
    def __init__(
        self,
        jwt_secret: str,
        jwt_issuer: str,
        jwt_audience: str | None = None,
        *,
        access_token_ttl_seconds: int = 900,
        refresh_token_ttl_seconds: int = 14 * 24 * 3600,
        leeway_seconds: float = 30,
        key_id: str = DEFAULT_KEY_ID,
        code_sink: CodeSink = logging_code_sink,
        confirmation_code_ttl_seconds: int = 24 * 3600,
        reset_code_ttl_seconds: int = 900,
        max_code_attempts: int = 5,
        auto_confirm: bool = False,
        password_policy: PasswordPolicy | None = None,
        password_hasher: PasswordHasher | None = None,
        seed_role_users: bool = False,
        seed_role_codes: Iterable[str] = ("admin", "operator"),
        seed_user_domain: str = "example.org",
        seed_password: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not jwt_secret:
            raise ValueError("MemorySecurityProvider needs a non-empty jwt_secret")
        self._secret = jwt_secret.encode()
        self._issuer = jwt_issuer
        self._audience = jwt_audience or jwt_issuer
        self._access_ttl = access_token_ttl_seconds
        self._refresh_ttl = refresh_token_ttl_seconds
        self._key_id = key_id
        self._sink = code_sink
        self._confirm_ttl = confirmation_code_ttl_seconds
        self._reset_ttl = reset_code_ttl_seconds
        self._max_attempts = max_code_attempts
        self._auto_confirm = auto_confirm
        self._policy = password_policy or PasswordPolicy()
        self._hasher = password_hasher or PasswordHasher()
        self._clock = clock
        self._verifier = Hs256TokenVerifier(
            jwt_secret, jwt_issuer, self._audience, leeway_seconds=leeway_seconds, key_id=key_id
        )
        self._lock = asyncio.Lock()
        self._users: dict[str, _User] = {}
        self._confirm_codes: dict[str, _PendingCode] = {}
        self._reset_codes: dict[str, _PendingCode] = {}
        self._refresh: dict[bytes, _RefreshRecord] = {}
        # Verified against for unknown users, so a miss costs what a wrong password costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))
        if seed_role_users:
            self._seed(unique_roles(tuple(seed_role_codes)), seed_user_domain, seed_password)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to open; present so the lifespan treats every provider alike."""

    async def close(self) -> None:
        """Nothing to close."""

    def _seed(self, roles: tuple[str, ...], domain: str, password: str | None) -> None:
        if password is not None:
            self._policy.check(password)
        now = datetime.fromtimestamp(self._clock(), UTC)
        for role in roles:
            self._check_role(role)
            secret = password if password is not None else generate_password()
            email = f"{role}@{domain}"
            self._users[role] = _User(
                username=role,
                subject=str(uuid.uuid4()),
                email=email,
                password_hash=self._hasher.hash(secret),
                status=UserStatus.CONFIRMED,
                created_at=now,
                roles={role},
            )
            if password is None:
                self._sink(IssuedCode(CodePurpose.SEED_PASSWORD, role, email, secret))

    # --- helpers -------------------------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify_password(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    def _new_code(self, ttl: int) -> tuple[str, _PendingCode]:
        code = f"{secrets.randbelow(10**6):06d}"
        return code, _PendingCode(_digest(code), self._clock() + ttl, self._max_attempts)

    def _consume_code(self, store: dict[str, _PendingCode], username: str, code: str) -> None:
        """Under the lock: accept the code once, or count a failed attempt."""
        pending = store.get(username)
        if pending is None or pending.expires_at <= self._clock():
            store.pop(username, None)
            raise InvalidInput(CODE_FAILED)
        if not hmac.compare_digest(pending.digest, _digest(code)):
            pending.attempts_left -= 1
            if pending.attempts_left <= 0:
                del store[username]
            raise InvalidInput(CODE_FAILED)
        del store[username]

    @staticmethod
    def _check_role(role: str) -> None:
        if not ROLE_PATTERN.match(role):
            raise InvalidInput(f"Invalid role name {role!r}")

    def _user_or_404(self, username: str) -> _User:
        user = self._users.get(username)
        if user is None:
            raise NotFound("user", username)
        return user

    def _issue(self, user: _User, session: str) -> AuthTokens:
        now = int(self._clock())
        base: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user.subject,
            "username": user.username,
            "roles": sorted(user.roles),
            "iat": now,
            "nbf": now,
            "exp": now + self._access_ttl,
            "sid": session,
        }
        headers = {"kid": self._key_id}
        access = jwt.encode(
            {**base, "token_use": "access", "jti": str(uuid.uuid4())},
            self._secret,
            algorithm=ALGORITHM,
            headers=headers,
        )
        id_token = jwt.encode(
            {**base, "token_use": "id", "jti": str(uuid.uuid4()), "email": user.email},
            self._secret,
            algorithm=ALGORITHM,
            headers=headers,
        )
        refresh = secrets.token_urlsafe(48)
        self._refresh[_digest(refresh)] = _RefreshRecord(
            user.username, session, self._clock() + self._refresh_ttl
        )
        return AuthTokens(access, id_token, refresh, self._access_ttl)

    def _revoke_where(self, predicate: Callable[[_RefreshRecord], bool]) -> None:
        for record in self._refresh.values():
            if predicate(record):
                record.revoked = True

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, r in self._refresh.items() if r.expires_at <= now]:
            del self._refresh[key]

    # --- IdentityProvider ----------------------------------------------------------------------

    async def register(
        self,
        username: str,
        password: str,
        email: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RegistrationResult:
        if not USERNAME_PATTERN.match(username):
            raise InvalidInput("Username must be 1 to 128 characters without spaces")
        self._policy.check(password)
        password_hash = await self._hash(password)
        async with self._lock:
            if username in self._users:
                raise AlreadyExists("user", "username", username)
            user = _User(
                username=username,
                subject=str(uuid.uuid4()),
                email=email,
                password_hash=password_hash,
                status=UserStatus.CONFIRMED if self._auto_confirm else UserStatus.UNCONFIRMED,
                created_at=datetime.fromtimestamp(self._clock(), UTC),
                attributes=dict(attributes or {}),
            )
            self._users[username] = user
            if self._auto_confirm:
                return RegistrationResult(username, user.subject, confirmed=True)
            code, pending = self._new_code(self._confirm_ttl)
            self._confirm_codes[username] = pending
        self._sink(IssuedCode(CodePurpose.CONFIRM_REGISTRATION, username, email, code))
        delivery = CodeDelivery("EMAIL", _mask_email(email), "email")
        return RegistrationResult(username, user.subject, confirmed=False, delivery=delivery)

    async def confirm_registration(self, username: str, code: str) -> None:
        async with self._lock:
            self._consume_code(self._confirm_codes, username, code)
            user = self._users.get(username)
            if user is not None:
                user.status = UserStatus.CONFIRMED

    async def login(self, username: str, password: str) -> AuthTokens:
        async with self._lock:
            user = self._users.get(username)
            password_hash = user.password_hash if user is not None else self._dummy_hash
        ok = await self._verify_password(password_hash, password)
        if user is None or not ok or not user.enabled:
            raise AuthenticationFailed(LOGIN_FAILED)
        if user.status == UserStatus.UNCONFIRMED:
            raise AuthenticationFailed("User is not confirmed")
        if self._hasher.check_needs_rehash(password_hash):
            new_hash = await self._hash(password)
        else:
            new_hash = None
        async with self._lock:
            if new_hash is not None and user.password_hash == password_hash:
                user.password_hash = new_hash
            self._prune()
            return self._issue(user, session=str(uuid.uuid4()))

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        async with self._lock:
            record = self._refresh.get(_digest(refresh_token))
            if record is None or (username is not None and username != record.username):
                raise AuthenticationFailed(REFRESH_FAILED)
            if record.revoked:
                # A rotated (or revoked) token came back: someone holds a copy. End the session.
                session = record.session
                self._revoke_where(lambda r: r.session == session)
                logger.warning("refresh token replay for %r: session revoked", record.username)
                raise AuthenticationFailed(REFRESH_FAILED)
            user = self._users.get(record.username)
            if record.expires_at <= self._clock() or user is None or not user.enabled:
                record.revoked = True
                raise AuthenticationFailed(REFRESH_FAILED)
            record.revoked = True
            return self._issue(user, session=record.session)

    async def logout(self, access_token: str) -> None:
        principal = await self._verifier.verify(access_token)
        async with self._lock:
            self._revoke_where(lambda r: r.username == principal.username)

    async def revoke(self, refresh_token: str, username: str | None = None) -> None:
        async with self._lock:
            record = self._refresh.get(_digest(refresh_token))
            if record is None or (username is not None and username != record.username):
                return  # RFC 7009: revoking an unknown token is not an error
            session = record.session
            self._revoke_where(lambda r: r.session == session)

    async def forgot_password(self, username: str) -> PasswordResetResult:
        async with self._lock:
            user = self._users.get(username)
            if user is None or not user.enabled:
                return PasswordResetResult(delivery=None)
            code, pending = self._new_code(self._reset_ttl)
            self._reset_codes[username] = pending
            email = user.email
        self._sink(IssuedCode(CodePurpose.RESET_PASSWORD, username, email, code))
        return PasswordResetResult(CodeDelivery("EMAIL", _mask_email(email), "email"))

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        self._policy.check(new_password)
        async with self._lock:
            self._consume_code(self._reset_codes, username, code)
        password_hash = await self._hash(new_password)
        async with self._lock:
            user = self._users.get(username)
            if user is None:
                raise InvalidInput(CODE_FAILED)
            user.password_hash = password_hash
            if user.status == UserStatus.RESET_REQUIRED:
                user.status = UserStatus.CONFIRMED
            # A reset means the old password may be known: end every session.
            self._revoke_where(lambda r: r.username == username)

    async def change_password(
        self, access_token: str, old_password: str, new_password: str
    ) -> None:
        principal = await self._verifier.verify(access_token)
        async with self._lock:
            user = self._users.get(principal.username)
            if user is None or user.subject != principal.subject:
                raise AuthenticationFailed("The token's user no longer exists")
            old_hash = user.password_hash
        if not await self._verify_password(old_hash, old_password):
            raise AuthenticationFailed("Incorrect password")
        self._policy.check(new_password)
        new_hash = await self._hash(new_password)
        async with self._lock:
            user.password_hash = new_hash

    async def get_user(self, username: str) -> UserInfo:
        async with self._lock:
            return self._user_or_404(username).info(with_roles=True)

    async def ensure_user(
        self, username: str, email: str, password: str, roles: Sequence[str] = ()
    ) -> UserInfo:
        wanted = unique_roles(roles)
        for role in wanted:
            self._check_role(role)
        async with self._lock:
            exists = username in self._users
        if not exists:
            if not USERNAME_PATTERN.match(username):
                raise InvalidInput("Username must be 1 to 128 characters without spaces")
            self._policy.check(password)
            password_hash = await self._hash(password)
        async with self._lock:
            user = self._users.get(username)
            if user is None:
                user = _User(
                    username=username,
                    subject=str(uuid.uuid4()),
                    email=email,
                    password_hash=password_hash,
                    status=UserStatus.CONFIRMED,
                    created_at=datetime.fromtimestamp(self._clock(), UTC),
                )
                self._users[username] = user
            user.roles.update(wanted)
            return user.info(with_roles=True)

    async def assign_role(self, username: str, role: str) -> None:
        self._check_role(role)
        async with self._lock:
            self._user_or_404(username).roles.add(role)

    async def remove_role(self, username: str, role: str) -> None:
        self._check_role(role)
        async with self._lock:
            self._user_or_404(username).roles.discard(role)

    async def list_users(
        self, limit: int = 50, cursor: str | None = None, role: str | None = None
    ) -> UserPage:
        if not 1 <= limit <= MAX_USER_PAGE:
            raise InvalidQuery(f"limit must be between 1 and {MAX_USER_PAGE}")
        after = _decode_cursor(cursor) if cursor is not None else None
        async with self._lock:
            names = sorted(
                name
                for name, user in self._users.items()
                if (role is None or role in user.roles) and (after is None or name > after)
            )
            page = names[: limit + 1]
            items = tuple(self._users[n].info(with_roles=False) for n in page[:limit])
        next_cursor = _encode_cursor(page[limit - 1]) if len(page) > limit else None
        return UserPage(items, next_cursor)


def _encode_cursor(username: str) -> str:
    return base64.urlsafe_b64encode(b"u:" + username.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text = raw.decode()
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor is not valid for this listing") from None
    if not text.startswith("u:"):
        raise InvalidCursor("cursor is not valid for this listing")
    return text[2:]
