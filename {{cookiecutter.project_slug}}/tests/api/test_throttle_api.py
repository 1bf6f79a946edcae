"""Throttling of the /auth routes over HTTP: 429 with ``Retry-After`` past a limit, the same
answer for an unknown account, the right password refused while locked, codes and code requests
limited (a new code brings no new guesses), and the service's own wiring (settings, container,
counters in its repositories).

The routes run with a real limiter on a memory store and a fake clock (FastAPI's dependency
overrides, like tests/api/test_auth_api.py), so nothing here waits for time to pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{cookiecutter.package_name}}.adapters.http.deps import (
    get_attempt_limiter,
    get_identity_provider,
    get_token_verifier,
)
from {{cookiecutter.package_name}}.adapters.http.errors import install_error_handlers
from {{cookiecutter.package_name}}.adapters.http.routers.auth import build_auth_router
from {{cookiecutter.package_name}}.adapters.persistence.memory.backend import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)
from {{cookiecutter.package_name}}.adapters.throttle import (
    RepositoryAttemptLimiter,
    ThrottleCounter,
    register_throttle_entities,
)
from {{cookiecutter.package_name}}.features.identity import IDENTITY
from {{cookiecutter.package_name}}.main import create_app
from {{cookiecutter.package_name}}.ports.errors import TooManyAttempts

from tests.support.app import ADMIN, KIT, client_of, memory_settings
from tests.support.identity import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    CodeBox,
    hs256_verifier,
    memory_provider,
)
from tests.support.throttle import KEY_SECRET, LOCK, MAX_ATTEMPTS, FakeClock, policies

TOO_MANY = {"error": "too_many_attempts", "message": TooManyAttempts.MESSAGE}
WRONG = "Wr0ng-Passw0rd!"

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def codes() -> CodeBox:
    return CodeBox()


@pytest.fixture
def throttled(clock: FakeClock, codes: CodeBox) -> Client:
    """``async with throttled(**maxima) as client``: the /auth routes, a memory identity
    provider, and a limiter whose scopes allow ``MAX_ATTEMPTS`` except those given (by scope
    name: ``login_address=50``). Address limits default to 50 here, so a test meets the limit
    it is about."""

    @asynccontextmanager
    async def open_client(**maxima: int) -> AsyncIterator[httpx.AsyncClient]:
        registry = EntityRegistry()
        register_throttle_entities(registry)
        backend = MemoryBackend()
        counters = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        address_defaults = {"login_address": 50, "code_address": 50, "code_request_address": 50}
        limiter = RepositoryAttemptLimiter(
            counters,
            policies(**{**address_defaults, **maxima}),
            key_secret=KEY_SECRET,
            clock=clock,
        )
        identity = memory_provider(codes)
        verifier = hs256_verifier()
        app = FastAPI()
        install_error_handlers(app)
        app.dependency_overrides[get_identity_provider] = lambda: identity
        app.dependency_overrides[get_token_verifier] = lambda: verifier
        app.dependency_overrides[get_attempt_limiter] = lambda: limiter
        app.include_router(build_auth_router())
        async with client_of(app) as client:
            yield client

    return open_client


async def register(
    client: httpx.AsyncClient, codes: CodeBox, username: str, *, confirm: bool = True
) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.org",
            "password": STRONG_PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    if confirm:
        code = codes.latest(username, "confirm_registration")
        response = await client.post("/auth/confirm", json={"username": username, "code": code})
        assert response.status_code == 204, response.text


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"username": username, "password": password})


def assert_too_many(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == TOO_MANY
    assert response.headers["Retry-After"] == str(retry_after)


async def test_login_is_locked_after_max_failures_even_for_the_right_password(
    throttled: Client, codes: CodeBox, clock: FakeClock
) -> None:
    async with throttled() as client:
        await register(client, codes, "reader")
        for _ in range(MAX_ATTEMPTS):
            assert (await login(client, "reader", WRONG)).status_code == 401
        assert_too_many(await login(client, "reader", WRONG), LOCK)
        clock.advance(LOCK / 2)
        assert_too_many(await login(client, "reader", STRONG_PASSWORD), LOCK // 2)

        clock.advance(LOCK / 2)  # the lock has ended
        assert (await login(client, "reader", STRONG_PASSWORD)).status_code == 200
        # A good login resets the account: a full set of attempts again, then a fresh lock
        # (not the doubled one the next lockout in a row would get).
        for _ in range(MAX_ATTEMPTS):
            assert (await login(client, "reader", WRONG)).status_code == 401
        assert_too_many(await login(client, "reader", WRONG), LOCK)


async def test_change_password_guesses_count_as_login_attempts(
    throttled: Client, codes: CodeBox
) -> None:
    """A stolen access token gets no more tries at the old password than the login form."""
    async with throttled() as client:
        await register(client, codes, "reader")
        token = (await login(client, "reader", STRONG_PASSWORD)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        guess = {"old_password": WRONG, "new_password": OTHER_PASSWORD}
        for _ in range(MAX_ATTEMPTS):
            wrong = await client.post("/auth/change-password", json=guess, headers=headers)
            assert wrong.status_code == 401
        right = {"old_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD}
        assert_too_many(
            await client.post("/auth/change-password", json=right, headers=headers), LOCK
        )
        assert_too_many(await login(client, "reader", STRONG_PASSWORD), LOCK)


async def test_an_unknown_username_gets_the_same_answers(throttled: Client, codes: CodeBox) -> None:
    async with throttled() as client:
        await register(client, codes, "reader")
        known = [await login(client, "reader", WRONG) for _ in range(MAX_ATTEMPTS + 1)]
        ghost = [await login(client, "ghost", WRONG) for _ in range(MAX_ATTEMPTS + 1)]
    for real, unknown in zip(known, ghost, strict=True):
        assert real.status_code == unknown.status_code
        assert real.json() == unknown.json()
        assert real.headers.get("Retry-After") == unknown.headers.get("Retry-After")
    assert_too_many(ghost[-1], LOCK)


async def test_the_address_limit_counts_failures_across_accounts(
    throttled: Client, codes: CodeBox
) -> None:
    async with throttled(login_address=3) as client:
        await register(client, codes, "reader")
        assert (await login(client, "ghost-1", WRONG)).status_code == 401
        assert (await login(client, "ghost-2", WRONG)).status_code == 401
        for _ in range(5):  # successes give their attempt back to the address
            assert (await login(client, "reader", STRONG_PASSWORD)).status_code == 200
        assert (await login(client, "ghost-3", WRONG)).status_code == 401
        assert_too_many(await login(client, "ghost-4", WRONG), LOCK)
        assert_too_many(await login(client, "reader", STRONG_PASSWORD), LOCK)


async def test_forgot_password_is_limited_per_account_whether_or_not_it_exists(
    throttled: Client, codes: CodeBox
) -> None:
    async with throttled(code_request_account=3) as client:
        await register(client, codes, "reader")
        for username in ("reader", "ghost"):
            answers = [
                await client.post("/auth/forgot-password", json={"username": username})
                for _ in range(3)
            ]
            assert [a.status_code for a in answers] == [202] * 3
            assert_too_many(
                await client.post("/auth/forgot-password", json={"username": username}), LOCK
            )
    assert len(codes.of("reader", "reset_password")) == 3  # no code for the refused request


async def test_forgot_password_is_limited_per_address(throttled: Client) -> None:
    async with throttled(code_request_address=4) as client:
        for i in range(4):
            answer = await client.post("/auth/forgot-password", json={"username": f"user-{i}"})
            assert answer.status_code == 202
        answer = await client.post("/auth/forgot-password", json={"username": "user-9"})
        assert_too_many(answer, LOCK)


async def test_reset_code_guesses_survive_a_new_code(
    throttled: Client, codes: CodeBox, clock: FakeClock
) -> None:
    async with throttled() as client:
        await register(client, codes, "reader")

        async def confirm_reset(code: str) -> httpx.Response:
            return await client.post(
                "/auth/confirm-forgot-password",
                json={"username": "reader", "code": code, "new_password": OTHER_PASSWORD},
            )

        assert (await client.post("/auth/forgot-password", json={"username": "reader"})).is_success
        for _ in range(MAX_ATTEMPTS - 1):
            assert (await confirm_reset("000000")).status_code == 422
        # A new code is not a new set of guesses.
        assert (await client.post("/auth/forgot-password", json={"username": "reader"})).is_success
        code = codes.latest("reader", "reset_password")
        assert (await confirm_reset("000000")).status_code == 422
        assert_too_many(await confirm_reset(code), LOCK)  # even the right code

        clock.advance(LOCK)
        assert (await confirm_reset(code)).status_code == 204
        assert (await login(client, "reader", OTHER_PASSWORD)).status_code == 200


async def test_confirmation_code_guesses_are_limited(
    throttled: Client, codes: CodeBox, clock: FakeClock
) -> None:
    async with throttled() as client:
        await register(client, codes, "reader", confirm=False)
        code = codes.latest("reader", "confirm_registration")
        for _ in range(MAX_ATTEMPTS):
            response = await client.post(
                "/auth/confirm", json={"username": "reader", "code": "000000"}
            )
            assert response.status_code == 422
        right = {"username": "reader", "code": code}
        assert_too_many(await client.post("/auth/confirm", json=right), LOCK)
        # The same counter guards reset codes: confirm and reset share the account's guesses.
        guess = {"username": "reader", "code": "000000", "new_password": OTHER_PASSWORD}
        assert_too_many(await client.post("/auth/confirm-forgot-password", json=guess), LOCK)


async def test_registrations_are_limited_per_address(throttled: Client, codes: CodeBox) -> None:
    async with throttled(register_address=2) as client:
        await register(client, codes, "first", confirm=False)
        await register(client, codes, "second", confirm=False)
        response = await client.post(
            "/auth/register",
            json={"username": "third", "email": "third@example.org", "password": STRONG_PASSWORD},
        )
        assert_too_many(response, LOCK)


async def test_openapi_documents_the_429(throttled: Client) -> None:
    async with throttled() as client:
        schema = (await client.get("/openapi.json")).json()
    for path in (
        "/auth/login",
        "/auth/register",
        "/auth/confirm",
        "/auth/forgot-password",
        "/auth/confirm-forgot-password",
    ):
        answer = schema["paths"][path]["post"]["responses"]["429"]
        assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer"}


# --- the service's own wiring ------------------------------------------------------------------


async def test_the_service_throttles_with_its_settings_and_stores_counters_in_its_repositories(
    tmp_path: Path,
) -> None:
    settings = memory_settings(tmp_path, login_max_attempts_per_account=2, throttle_lock_seconds=30)
    app = create_app(settings, features=(IDENTITY, KIT))
    async with app.router.lifespan_context(app), client_of(app) as client:
        assert [(await login(client, ADMIN[0], WRONG)).status_code for _ in range(2)] == [401] * 2
        assert_too_many(await login(client, ADMIN[0], WRONG), 30)  # exactly the lock: just set
        locked = await login(client, ADMIN[0], ADMIN[1])
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["Retry-After"]) <= 30

        repositories = app.state.services.repositories
        stored = await repositories.of(ThrottleCounter).find_all({"scope": "login:account"})
        assert [(c.attempts, c.lockouts) for c in stored] == [(2, 1)]


async def test_throttling_can_be_turned_off(tmp_path: Path) -> None:
    settings = memory_settings(tmp_path, throttle_enabled=False, login_max_attempts_per_account=1)
    app: FastAPI = create_app(settings, features=(IDENTITY, KIT))
    async with app.router.lifespan_context(app), client_of(app) as client:
        answers = [(await login(client, ADMIN[0], WRONG)).status_code for _ in range(3)]
        assert answers == [401] * 3
        assert (await login(client, ADMIN[0], ADMIN[1])).status_code == 200
