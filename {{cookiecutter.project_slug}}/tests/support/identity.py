"""Identity backends for tests: the memory provider and Cognito on moto's server.

No fakes: the memory provider is the real adapter, and Cognito is the real adapter talking to a
real (moto) ``cognito-idp`` endpoint over HTTP, with tokens verified against moto's JWKS URL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher

from {{cookiecutter.package_name}}.adapters.identity.cognito import CognitoIdentityProvider
from {{cookiecutter.package_name}}.adapters.identity.memory import MemorySecurityProvider
from {{cookiecutter.package_name}}.adapters.identity.repository import (
    RepositoryIdentityProvider,
    register_identity_entities,
)
from {{cookiecutter.package_name}}.adapters.messages import MemoryOutbox
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)
from {{cookiecutter.package_name}}.adapters.tokens.cognito import CognitoJwtVerifier
from {{cookiecutter.package_name}}.adapters.tokens.hs256 import Hs256TokenVerifier
from {{cookiecutter.package_name}}.ports.identity import (
    IdentityProvider,
    TokenRevocations,
    TokenVerifier,
)

from tests.support.aws import aws_session

JWT_SECRET = "test-secret-" + "x" * 40
ISSUER = "bookshelf-tests"
AUDIENCE = "bookshelf-api"
REGION = "us-east-1"
STRONG_PASSWORD = "Str0ng-Passw0rd!"
OTHER_PASSWORD = "An0ther-Passw0rd?"


def fast_hasher() -> PasswordHasher:
    """Still argon2id, with a cost that keeps the suite fast."""
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@dataclass
class ManualClock:
    """The providers' clock in tests, moved by hand. It starts ten minutes behind real time, so
    tokens it stamps stay valid for the verifier (which reads real time) while a test moves it
    past a grace window; the test providers' access tokens live an hour."""

    now: float = field(default_factory=lambda: time.time() - 600)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# What would have been e-mailed, kept for the test (the outgoing-message port's memory adapter).
CodeBox = MemoryOutbox


def provider_options(codes: MemoryOutbox, **overrides: Any) -> dict[str, Any]:
    """The built-in providers' options in tests: cheap argon2, hour-long access tokens."""
    options: dict[str, Any] = {
        "jwt_secret": JWT_SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "messages": codes,
        "password_hasher": fast_hasher(),
        "access_token_ttl_seconds": 3600,
    }
    options.update(overrides)
    return options


def memory_provider(codes: MemoryOutbox, **overrides: Any) -> MemorySecurityProvider:
    return MemorySecurityProvider(**provider_options(codes, **overrides))


def hs256_verifier() -> Hs256TokenVerifier:
    return Hs256TokenVerifier(JWT_SECRET, ISSUER, AUDIENCE, leeway_seconds=5)


@dataclass(frozen=True)
class CognitoPool:
    endpoint: str
    user_pool_id: str
    client_id: str
    client_secret: str | None

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json"


async def create_cognito_pool(endpoint: str, *, with_secret: bool = True) -> CognitoPool:
    """A fresh user pool and app client on moto (Cognito's default password policy)."""
    async with aws_session().client(
        "cognito-idp", region_name=REGION, endpoint_url=endpoint
    ) as admin:
        pool = await admin.create_user_pool(
            PoolName=f"pool-{uuid.uuid4().hex[:10]}",
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 8,
                    "RequireUppercase": True,
                    "RequireLowercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                }
            },
            AutoVerifiedAttributes=["email"],
        )
        pool_id = pool["UserPool"]["Id"]
        client = await admin.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="api",
            GenerateSecret=with_secret,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )
        details = client["UserPoolClient"]
        return CognitoPool(endpoint, pool_id, details["ClientId"], details.get("ClientSecret"))


def cognito_verifier(pool: CognitoPool, **overrides: Any) -> CognitoJwtVerifier:
    options: dict[str, Any] = {
        "region": REGION,
        "user_pool_id": pool.user_pool_id,
        "client_ids": pool.client_id,
        "jwks_url": pool.jwks_url,
        "leeway_seconds": 5,
    }
    options.update(overrides)
    return CognitoJwtVerifier(**options)


@dataclass
class IdentityUnderTest:
    """One identity backend, with what a test needs to drive its out-of-band steps."""

    name: str
    provider: IdentityProvider
    verifier: TokenVerifier
    rotates_refresh_tokens: bool
    # Every adapter's outgoing messages (Cognito's: only the notices the adapter itself sends,
    # such as ACCOUNT_EXISTS; Cognito e-mails its own codes).
    outbox: MemoryOutbox = field(default_factory=MemoryOutbox)
    memory_codes: MemoryOutbox | None = None
    moto_reset_codes: list[str] = field(default_factory=list)
    # The provider's clock where it takes one (not Cognito's: AWS keeps its own time).
    clock: ManualClock | None = None

    def confirmation_code(self, username: str) -> str:
        if self.memory_codes is not None:
            return self.memory_codes.latest(username, "confirm_registration")
        # moto delivers no sign-up code and ConfirmSignUp accepts any code (reported, and the
        # wrong-code test is a strict xfail on Cognito-on-moto).
        return "123456"

    def reset_code(self, username: str) -> str:
        if self.memory_codes is not None:
            return self.memory_codes.latest(username, "reset_password")
        # moto hands the ForgotPassword code out in a response header (it cannot e-mail it);
        # the test reads it through a botocore event hook, the adapter never sees it.
        assert self.moto_reset_codes, f"moto issued no reset code for {username!r}"
        return self.moto_reset_codes[-1]


def revoking_verifier(provider: TokenRevocations) -> Hs256TokenVerifier:
    """The HS256 verifier as the service builds it: revoked tokens refused at once."""
    return Hs256TokenVerifier(
        JWT_SECRET,
        ISSUER,
        AUDIENCE,
        leeway_seconds=5,
        revocations=provider,
        revocation_check_seconds=0,
    )


@asynccontextmanager
async def memory_identity() -> AsyncIterator[IdentityUnderTest]:
    codes, clock = CodeBox(), ManualClock()
    async with built_in("memory", memory_provider(codes, clock=clock), codes, clock) as under_test:
        yield under_test


@asynccontextmanager
async def built_in(
    name: str, provider: RepositoryIdentityProvider, codes: MemoryOutbox, clock: ManualClock
) -> AsyncIterator[IdentityUnderTest]:
    """A started repository or memory provider with the verifier the service would give it."""
    await provider.start()
    try:
        yield IdentityUnderTest(
            name,
            provider,
            revoking_verifier(provider),
            True,
            outbox=codes,
            memory_codes=codes,
            clock=clock,
        )
    finally:
        await provider.close()


@asynccontextmanager
async def repository_identity(
    request: pytest.FixtureRequest, store: str, **overrides: Any
) -> AsyncIterator[IdentityUnderTest]:
    """The repository provider on the persistence backend ``store`` (tables of its own)."""
    from tests.support.backends import BACKENDS

    registry = EntityRegistry()
    register_identity_entities(registry, suffix=f"_{uuid.uuid4().hex[:10]}")
    async with BACKENDS[store](request, registry) as backend:
        repositories = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await repositories.start(create_schema=True)
        codes, clock = CodeBox(), ManualClock()
        options = provider_options(codes, clock=clock, **overrides)
        provider = RepositoryIdentityProvider(repositories, **options)
        try:
            async with built_in(f"repository-{store}", provider, codes, clock) as under_test:
                yield under_test
        finally:
            await repositories.close()


@asynccontextmanager
async def cognito_identity(endpoint: str) -> AsyncIterator[IdentityUnderTest]:
    pool = await create_cognito_pool(endpoint)
    outbox = MemoryOutbox()
    provider = CognitoIdentityProvider(
        messages=outbox,
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        client_secret=pool.client_secret,
        region=REGION,
        endpoint_url=endpoint,
        session=aws_session(),
        max_attempts=1,  # moto answers 500 for what it lacks; retrying that only wastes time
    )
    verifier = cognito_verifier(pool)
    await provider.start()
    await verifier.start()
    under_test = IdentityUnderTest(
        "cognito", provider, verifier, rotates_refresh_tokens=False, outbox=outbox
    )

    def keep_moto_code(parsed: dict[str, Any], **_: Any) -> None:
        headers = parsed.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        code = headers.get("x-moto-forgot-password-confirmation-code")
        if code and code != "None":
            under_test.moto_reset_codes.append(code)

    provider.client.meta.events.register("after-call.cognito-idp.ForgotPassword", keep_moto_code)
    try:
        yield under_test
    finally:
        await verifier.close()
        await provider.close()
