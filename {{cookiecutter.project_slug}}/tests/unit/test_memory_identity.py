"""Memory identity provider specifics the shared contract cannot express (clock, seeding, work)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
import pytest
from argon2 import PasswordHasher

from {{cookiecutter.package_name}}.adapters.identity.memory import generate_password
from {{cookiecutter.package_name}}.ports.errors import AuthenticationFailed, InvalidInput
from {{cookiecutter.package_name}}.ports.identity import unique_roles

from tests.support.identity import (
    AUDIENCE,
    ISSUER,
    JWT_SECRET,
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    CodeBox,
    hs256_verifier,
    memory_provider,
)


@dataclass
class Clock:
    # Real time at the start: expired sessions and codes also vanish from reads by real time.
    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


class CountingHasher(PasswordHasher):
    """A real argon2id hasher that counts verifications (to prove equal work)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verifications += 1
        return super().verify(hash, password)


async def confirmed_user(codes: CodeBox, provider: Any, username: str = "carol") -> None:
    await provider.register(username, STRONG_PASSWORD, f"{username}@example.org")
    await provider.confirm_registration(username, codes.latest(username, "confirm_registration"))


async def test_hashes_are_argon2id_and_login_for_unknown_users_does_the_same_work() -> None:
    codes, hasher = CodeBox(), CountingHasher()
    provider = memory_provider(codes, password_hasher=hasher)
    await confirmed_user(codes, provider)
    stored = await provider._account_named("carol")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")

    hasher.verifications = 0
    with pytest.raises(AuthenticationFailed):
        await provider.login("carol", OTHER_PASSWORD)
    with pytest.raises(AuthenticationFailed):
        await provider.login("nobody", OTHER_PASSWORD)
    assert hasher.verifications == 2


async def test_tokens_carry_the_registered_claims() -> None:
    codes = CodeBox()
    provider = memory_provider(codes)
    await confirmed_user(codes, provider)
    tokens = await provider.login("carol", STRONG_PASSWORD)
    header = jwt.get_unverified_header(tokens.access_token)
    claims = jwt.decode(tokens.access_token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert header["alg"] == "HS256"
    assert header["kid"]
    assert claims["iss"] == ISSUER
    assert claims["token_use"] == "access"
    assert {"exp", "iat", "nbf", "jti", "sub"} <= claims.keys()
    assert tokens.id_token is not None
    id_claims = jwt.decode(tokens.id_token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert id_claims["token_use"] == "id"
    assert id_claims["email"] == "carol@example.org"
    with pytest.raises(AuthenticationFailed, match="expected an access token"):
        await hs256_verifier().verify(tokens.id_token)


async def test_reset_code_expires() -> None:
    codes, clock = CodeBox(), Clock()
    provider = memory_provider(codes, clock=clock, reset_code_ttl_seconds=600)
    await confirmed_user(codes, provider)
    await provider.forgot_password("carol")
    clock.now += 601
    with pytest.raises(InvalidInput, match="expired"):
        await provider.confirm_forgot_password(
            "carol", codes.latest("carol", "reset_password"), OTHER_PASSWORD
        )


async def test_a_new_reset_code_replaces_the_old_one_and_works_once() -> None:
    codes = CodeBox()
    provider = memory_provider(codes)
    await confirmed_user(codes, provider)
    await provider.forgot_password("carol")
    first = codes.latest("carol", "reset_password")
    await provider.forgot_password("carol")
    second = codes.latest("carol", "reset_password")
    if first != second:
        with pytest.raises(InvalidInput):
            await provider.confirm_forgot_password("carol", first, OTHER_PASSWORD)
    await provider.confirm_forgot_password("carol", second, OTHER_PASSWORD)
    with pytest.raises(InvalidInput):  # single use
        await provider.confirm_forgot_password("carol", second, STRONG_PASSWORD)


async def test_reset_ends_every_session() -> None:
    codes = CodeBox()
    provider = memory_provider(codes)
    await confirmed_user(codes, provider)
    tokens = await provider.login("carol", STRONG_PASSWORD)
    await provider.forgot_password("carol")
    code = codes.latest("carol", "reset_password")
    await provider.confirm_forgot_password("carol", code, OTHER_PASSWORD)
    assert tokens.refresh_token is not None
    with pytest.raises(AuthenticationFailed):
        await provider.refresh(tokens.refresh_token)


async def test_refresh_token_expires() -> None:
    codes, clock = CodeBox(), Clock()
    provider = memory_provider(codes, clock=clock, refresh_token_ttl_seconds=60)
    await confirmed_user(codes, provider)
    tokens = await provider.login("carol", STRONG_PASSWORD)
    clock.now += 61
    assert tokens.refresh_token is not None
    with pytest.raises(AuthenticationFailed, match="expired"):
        await provider.refresh(tokens.refresh_token)


async def test_seeded_users_get_generated_passwords_through_the_sink() -> None:
    codes = CodeBox()
    provider = memory_provider(
        codes, seed_role_users=True, seed_role_codes=("admin", "operator", "admin")
    )
    await provider.start()
    await provider.start()  # a second start (another worker) seeds nothing more
    passwords = {i.username: i.code for i in codes.sent if i.purpose == "seed_password"}
    assert sorted(passwords) == ["admin", "operator"]
    assert passwords["admin"] != passwords["operator"]
    tokens = await provider.login("admin", passwords["admin"])
    principal = await hs256_verifier().verify(tokens.access_token)
    assert principal.roles == {"admin"}
    assert (await provider.get_user("operator")).email == "operator@example.org"


async def test_seeded_users_use_a_configured_password_and_refuse_a_weak_one() -> None:
    codes = CodeBox()
    provider = memory_provider(
        codes, seed_role_users=True, seed_role_codes=("admin",), seed_password=OTHER_PASSWORD
    )
    await provider.start()
    assert not codes.sent  # nothing generated, nothing to announce
    assert (await provider.login("admin", OTHER_PASSWORD)).access_token
    with pytest.raises(InvalidInput):
        memory_provider(codes, seed_role_users=True, seed_password="weak")


async def test_concurrent_registrations_of_one_name_create_one_account() -> None:
    codes = CodeBox()
    provider = memory_provider(codes)
    results = await asyncio.gather(
        *(provider.register("dup", STRONG_PASSWORD, "d@example.org") for _ in range(8))
    )
    # Every caller gets the same shape of answer; one account exists, the others were told.
    assert {(r.username, r.confirmed) for r in results} == {("dup", False)}
    assert len({r.user_sub for r in results}) == 8
    assert len(codes.of("dup", "confirm_registration")) == 1
    assert len(codes.of("dup", "account_exists")) == 7
    real = await provider.get_user("dup")
    assert [r.user_sub for r in results].count(real.subject) == 1


def test_generated_passwords_meet_the_policy_and_differ() -> None:
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20


def test_unique_roles() -> None:
    assert unique_roles("admin", ["admin", " editor ", ""], None, ("viewer",)) == (
        "admin",
        "editor",
        "viewer",
    )


class CountingHashes(PasswordHasher):
    """A real argon2id hasher that counts the hashes it makes."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.hashes = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashes += 1
        return super().hash(password, salt=salt)


async def test_registering_a_taken_name_costs_the_same_argon2_work_as_a_free_one() -> None:
    codes, hasher = CodeBox(), CountingHashes()
    provider = memory_provider(codes, password_hasher=hasher)
    await provider.register("erin", STRONG_PASSWORD, "erin@example.org")
    hasher.hashes = 0
    await provider.register("erin", OTHER_PASSWORD, "other@example.org")
    taken = hasher.hashes
    await provider.register("fred", OTHER_PASSWORD, "fred@example.org")
    assert taken == hasher.hashes - taken == 1
