"""The attempt limiter (``ports/throttle.py``) on every persistence backend: counters stored as
entities through the kit's repositories, moved by compare-and-set, read against a fake clock.

Proves: the lock after ``max_attempts`` and its ``Retry-After``, the doubling (capped) lock,
the window and the forgetting of lockouts, ``reset`` and ``release``, a refusal that costs the
other keys nothing, counters named by a keyed digest, and atomicity: 50 concurrent attempts on
one key, from one limiter or from two sharing the database, give exactly ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)
from {{cookiecutter.package_name}}.adapters.throttle import (
    RepositoryAttemptLimiter,
    ThrottleCounter,
    register_throttle_entities,
)
from {{cookiecutter.package_name}}.domain.errors import DomainError
from {{cookiecutter.package_name}}.ports.errors import TooManyAttempts
from {{cookiecutter.package_name}}.ports.throttle import AttemptKey, Scope, ThrottlePolicy

from tests.support.backends import BACKENDS
from tests.support.throttle import (
    KEY_SECRET,
    LOCK,
    MAX_ATTEMPTS,
    MAX_LOCK,
    WINDOW,
    FakeClock,
    policies,
)

ALICE = AttemptKey(Scope.LOGIN_ACCOUNT, "alice")
ADDRESS = AttemptKey(Scope.LOGIN_ADDRESS, "203.0.113.7")


@pytest.fixture(params=sorted(BACKENDS))
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryProvider]:
    """A started provider on one backend, with a counter table no other test uses."""
    registry = EntityRegistry()
    register_throttle_entities(registry, suffix=f"_{uuid.uuid4().hex[:10]}")
    async with BACKENDS[request.param](request, registry) as backend:
        provider = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await provider.start(create_schema=True)
        try:
            yield provider
        finally:
            await provider.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(counters: RepositoryProvider, clock: FakeClock) -> RepositoryAttemptLimiter:
    return RepositoryAttemptLimiter(counters, policies(), key_secret=KEY_SECRET, clock=clock)


async def refused(limiter: RepositoryAttemptLimiter, *keys: AttemptKey) -> int:
    """The ``Retry-After`` of a refused attempt (fails the test when it is accepted)."""
    with pytest.raises(TooManyAttempts) as caught:
        await limiter.acquire(keys)
    assert caught.value.code == "too_many_attempts"
    assert caught.value.message == TooManyAttempts.MESSAGE
    return caught.value.retry_after_seconds


async def use_up(limiter: RepositoryAttemptLimiter, key: AttemptKey, times: int) -> None:
    for _ in range(times):
        await limiter.acquire([key])


async def test_max_attempts_then_a_lock_with_its_retry_after(
    limiter: RepositoryAttemptLimiter, clock: FakeClock
) -> None:
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    assert await refused(limiter, ALICE) == LOCK
    clock.advance(20.5)
    assert await refused(limiter, ALICE) == 40  # the rest of the lock, rounded up
    clock.advance(39)
    assert await refused(limiter, ALICE) == 1  # half a second left: never 0
    clock.advance(0.5)
    await use_up(limiter, ALICE, MAX_ATTEMPTS)  # the lock has ended: a new window
    assert await refused(limiter, ALICE) == 2 * LOCK


async def test_each_lockout_doubles_the_lock_up_to_the_cap(
    limiter: RepositoryAttemptLimiter, clock: FakeClock
) -> None:
    locks = []
    for _ in range(5):
        await use_up(limiter, ALICE, MAX_ATTEMPTS)
        lock = await refused(limiter, ALICE)
        locks.append(lock)
        clock.advance(lock)
    assert locks == [LOCK, 2 * LOCK, 4 * LOCK, MAX_LOCK, MAX_LOCK]


async def test_a_window_ends_and_a_quiet_window_forgets_the_lockouts(
    limiter: RepositoryAttemptLimiter, clock: FakeClock
) -> None:
    await use_up(limiter, ALICE, MAX_ATTEMPTS - 1)
    clock.advance(WINDOW - 1)
    await limiter.acquire([ALICE])  # still the first window: the last attempt of it
    assert await refused(limiter, ALICE) == LOCK

    clock.advance(LOCK)
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    assert await refused(limiter, ALICE) == 2 * LOCK  # the second lockout in a row
    clock.advance(2 * LOCK + WINDOW)  # a whole window after the lock ended, without attempts
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    assert await refused(limiter, ALICE) == LOCK  # the lockouts are forgotten

    clock.advance(LOCK)
    await use_up(limiter, ALICE, MAX_ATTEMPTS - 1)
    clock.advance(WINDOW)  # the window ends below the limit: it starts again from nothing
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    assert await refused(limiter, ALICE) == LOCK


async def test_reset_forgets_the_key_and_release_gives_one_attempt_back(
    limiter: RepositoryAttemptLimiter, clock: FakeClock
) -> None:
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    await limiter.reset(ALICE)
    await limiter.reset(ALICE)  # nothing to forget: not an error
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    await refused(limiter, ALICE)
    await limiter.reset(ALICE)  # a lock too
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    assert await refused(limiter, ALICE) == LOCK  # and its lockouts

    await use_up(limiter, ADDRESS, MAX_ATTEMPTS)
    await limiter.release(ADDRESS)
    await limiter.acquire([ADDRESS])  # the attempt given back
    await refused(limiter, ADDRESS)
    await limiter.release(ADDRESS)
    assert await refused(limiter, ADDRESS) == LOCK  # release never lifts a lock
    await limiter.release(AttemptKey(Scope.LOGIN_ADDRESS, "198.51.100.1"))  # no counter: no-op


async def test_a_refused_attempt_costs_the_other_keys_nothing(
    limiter: RepositoryAttemptLimiter,
) -> None:
    await use_up(limiter, ALICE, MAX_ATTEMPTS)
    await refused(limiter, ALICE)
    for _ in range(3):
        await refused(limiter, ALICE, ADDRESS)  # the account is locked: the address not counted
    await use_up(limiter, ADDRESS, MAX_ATTEMPTS)
    await refused(limiter, ADDRESS)
    bob = AttemptKey(Scope.LOGIN_ACCOUNT, "bob")
    await refused(limiter, bob, ADDRESS)  # refused by the address, before bob is counted
    await use_up(limiter, bob, MAX_ATTEMPTS)


async def test_keys_are_scoped_normalised_and_counted_once_per_call(
    limiter: RepositoryAttemptLimiter,
) -> None:
    await use_up(limiter, AttemptKey(Scope.LOGIN_ACCOUNT, " Alice "), MAX_ATTEMPTS - 1)
    await limiter.acquire([ALICE, ALICE])  # the same key twice in one call: one attempt
    await refused(limiter, AttemptKey(Scope.LOGIN_ACCOUNT, "ALICE"))
    # Another scope of the same name is another counter.
    await use_up(limiter, AttemptKey(Scope.CODE_ACCOUNT, "alice"), MAX_ATTEMPTS)


async def test_counters_are_named_by_a_keyed_digest(
    limiter: RepositoryAttemptLimiter, counters: RepositoryProvider, clock: FakeClock
) -> None:
    await limiter.acquire([ALICE, ADDRESS])
    stored = await counters.of(ThrottleCounter).find_all()
    assert sorted(c.id for c in stored) == sorted(
        [limiter.counter_id(ALICE), limiter.counter_id(ADDRESS)]
    )
    for counter in stored:
        assert len(counter.id) == 64  # hex: neither "alice" nor "203.0.113.7" can be in it
        assert (counter.attempts, counter.version) == (1, 1)
        assert counter.expires_at == clock.now + WINDOW
    assert {c.scope for c in stored} == {"login:account", "login:address"}
    other = RepositoryAttemptLimiter(counters, policies(), key_secret="another-secret")
    assert other.counter_id(ALICE) != limiter.counter_id(ALICE)


async def test_fifty_concurrent_attempts_on_one_key_reserve_exactly_max_attempts(
    counters: RepositoryProvider, clock: FakeClock
) -> None:
    # Two limiters on one store: two processes sharing a database look the same to it.
    first, second = (
        RepositoryAttemptLimiter(counters, policies(), key_secret=KEY_SECRET, clock=clock)
        for _ in range(2)
    )

    async def attempt(i: int) -> int | None:
        """None when accepted, else the refusal's Retry-After."""
        try:
            await (first if i % 2 else second).acquire([ALICE, ADDRESS])
        except TooManyAttempts as exc:
            return exc.retry_after_seconds
        return None

    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert results.count(None) == MAX_ATTEMPTS, results
    assert results.count(LOCK) == 50 - MAX_ATTEMPTS  # every refusal: the lock, just set
    stored = await counters.of(ThrottleCounter).get(first.counter_id(ALICE))
    assert stored is not None
    assert (stored.attempts, stored.lockouts, stored.locked_until) == (
        MAX_ATTEMPTS,
        1,
        clock.now + LOCK,
    )
    # The address is counted after the account, so only for the attempts the account let by.
    address = await counters.of(ThrottleCounter).get(first.counter_id(ADDRESS))
    assert address is not None
    assert address.attempts == MAX_ATTEMPTS


async def test_a_higher_limit_holds_under_concurrency_too(
    counters: RepositoryProvider, clock: FakeClock
) -> None:
    limiter = RepositoryAttemptLimiter(
        counters, policies(login_address=20), key_secret=KEY_SECRET, clock=clock
    )

    async def attempt(i: int) -> bool:
        try:
            await limiter.acquire([AttemptKey(Scope.LOGIN_ADDRESS, "192.0.2.1")])
        except TooManyAttempts:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(30)))
    assert results.count(True) == 20


async def test_an_unknown_scope_is_refused_before_anything_is_counted(
    counters: RepositoryProvider, clock: FakeClock
) -> None:
    only_login = {Scope.LOGIN_ACCOUNT: policies()[Scope.LOGIN_ACCOUNT]}
    limiter = RepositoryAttemptLimiter(counters, only_login, key_secret=KEY_SECRET, clock=clock)
    with pytest.raises(KeyError):
        await limiter.acquire([ALICE, ADDRESS])
    assert await counters.of(ThrottleCounter).count() == 0


# --- without a backend ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"window_seconds": 0}, "must be positive"),
        ({"lock_seconds": -1}, "must be positive"),
        ({"max_lock_seconds": LOCK - 1}, "cannot be shorter than lock_seconds"),
    ],
)
def test_a_policy_refuses_nonsense(values: dict[str, Any], problem: str) -> None:
    fields: dict[str, Any] = {
        "max_attempts": 1,
        "window_seconds": WINDOW,
        "lock_seconds": LOCK,
        "max_lock_seconds": MAX_LOCK,
    }
    with pytest.raises(ValueError, match=problem):
        ThrottlePolicy(**{**fields, **values})


def test_the_lock_doubles_without_overflowing() -> None:
    policy = ThrottlePolicy(1, WINDOW, LOCK, MAX_LOCK)
    assert [policy.lock_for(n) for n in range(5)] == [60, 120, 240, 300, 300]
    assert policy.lock_for(10_000) == MAX_LOCK


@pytest.mark.parametrize(
    "values",
    [
        {"id": "alice"},  # never the raw key
        {"scope": "Login Account"},
        {"attempts": -1},
        {"lockouts": -1},
        {"locked_until": float("nan")},
        {"expires_at": -1.0},
    ],
)
def test_a_counter_refuses_what_must_never_be_stored(values: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "id": "0" * 64,
        "scope": "login:account",
        "attempts": 1,
        "window_started": 0.0,
        "expires_at": WINDOW,
    }
    with pytest.raises(DomainError):
        ThrottleCounter(**{**fields, **values})
