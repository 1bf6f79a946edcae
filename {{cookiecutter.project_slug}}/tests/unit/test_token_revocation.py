"""The HS256 verifier's revocation check: how long a revoked token can live is the cache time,
measured on a clock the test moves (no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
import pytest

from {{cookiecutter.package_name}}.adapters.identity.memory import MemorySecurityProvider
from {{cookiecutter.package_name}}.adapters.tokens.hs256 import Hs256TokenVerifier
from {{cookiecutter.package_name}}.ports.errors import AuthenticationFailed

from tests.support.identity import (
    AUDIENCE,
    ISSUER,
    JWT_SECRET,
    STRONG_PASSWORD,
    CodeBox,
    memory_provider,
)


@dataclass
class Ticks:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def signed_in(username: str = "dora") -> tuple[MemorySecurityProvider, str]:
    codes = CodeBox()
    provider = memory_provider(codes)
    await provider.register(username, STRONG_PASSWORD, f"{username}@example.org")
    await provider.confirm_registration(username, codes.latest(username, "confirm_registration"))
    return provider, (await provider.login(username, STRONG_PASSWORD)).access_token


def verifier_of(
    provider: MemorySecurityProvider, ticks: Ticks, seconds: float
) -> Hs256TokenVerifier:
    return Hs256TokenVerifier(
        JWT_SECRET,
        ISSUER,
        AUDIENCE,
        revocations=provider,
        revocation_check_seconds=seconds,
        clock=ticks,
    )


async def test_a_revoked_token_lives_at_most_the_check_interval() -> None:
    provider, token = await signed_in()
    ticks = Ticks()
    verifier = verifier_of(provider, ticks, seconds=5)
    assert (await verifier.verify(token)).username == "dora"
    await provider.assign_role("dora", "editor")
    ticks.now = 4.9
    assert await verifier.verify(token)  # still cached: inside the documented bound
    ticks.now = 5.0
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await verifier.verify(token)


async def test_a_newer_token_is_accepted_at_once_despite_the_cache() -> None:
    provider, token = await signed_in()
    ticks = Ticks()
    verifier = verifier_of(provider, ticks, seconds=300)
    assert await verifier.verify(token)
    await provider.assign_role("dora", "editor")
    fresh = (await provider.login("dora", STRONG_PASSWORD)).access_token
    assert (await verifier.verify(fresh)).roles == {"editor"}
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await verifier.verify(token)  # the mismatch was read afresh, then cached


async def test_a_deleted_or_disabled_account_has_no_valid_token() -> None:
    provider, token = await signed_in()
    verifier = verifier_of(provider, Ticks(), seconds=0)
    await provider.disable_user("dora")
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await verifier.verify(token)
    await provider.enable_user("dora")
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await verifier.verify(token)  # enabling again does not bring old tokens back
    await provider.delete_user("dora")
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await verifier.verify(token)


async def test_a_token_without_a_version_is_refused_when_revocation_is_on() -> None:
    provider, token = await signed_in()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    del claims["tv"]
    unversioned = jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"kid": "hs256-1"})
    with pytest.raises(AuthenticationFailed, match="token version"):
        await verifier_of(provider, Ticks(), seconds=0).verify(unversioned)
