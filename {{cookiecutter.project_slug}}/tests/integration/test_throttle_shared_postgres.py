"""Issue #13's acceptance test: the login limit holds across instances of the service that share
one PostgreSQL database.

50 concurrent wrong passwords for one account, spread over two instances sharing a fresh
database, give exactly ``LOGIN_MAX_ATTEMPTS_PER_ACCOUNT`` 401s and 429s for the rest; then the
right password is refused by both. The instances are two ``create_app()`` in this process (each
its own container, engine and connection pool), and two uvicorn processes.

The lock is an hour long, and a request waits for a pooled connection or a statement for
minutes rather than the default seconds before answering 503, so the outcome does not depend on
how fast the machine runs the 50 requests (the uvicorn start-up is waited for with a generous
deadline too).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from {{cookiecutter.package_name}}.features.identity import IDENTITY
from {{cookiecutter.package_name}}.main import create_app

from tests.support.app import ADMIN, KIT, client_of, memory_settings
from tests.support.backend_postgres import connect_raw
from tests.support.migrations import PROJECT
from tests.support.services import free_port

MAX_ATTEMPTS = 5
LOCK_SECONDS = 3600
CONCURRENT = 50
WRONG = {"username": ADMIN[0], "password": "Wr0ng-Passw0rd!"}
RIGHT = {"username": ADMIN[0], "password": ADMIN[1]}
START_DEADLINE_SECONDS = 60.0
# 25 requests on each instance's pool: on a busy machine the default 5 s wait for a connection
# is reached, and the 503 it gives is the outage tests' subject, not this one's.
PATIENT_POOL_SECONDS = 300
PATIENT_STATEMENT_MS = 300_000


async def fifty_wrong_then_the_right_one(clients: list[httpx.AsyncClient]) -> None:
    """The acceptance scenario over ``clients`` (one per instance, taking turns), asserted."""
    answers = await asyncio.gather(
        *(clients[i % len(clients)].post("/auth/login", json=WRONG) for i in range(CONCURRENT))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * MAX_ATTEMPTS + [429] * (CONCURRENT - MAX_ATTEMPTS)
    refused = [a for a in answers if a.status_code == 429]
    assert {a.json()["error"] for a in refused} == {"too_many_attempts"}
    retry_after = [int(a.headers["Retry-After"]) for a in refused]
    assert max(retry_after) == LOCK_SECONDS  # the one that set the lock
    assert min(retry_after) >= 1
    for client in clients:  # every instance refuses the right password now
        right = await client.post("/auth/login", json=RIGHT)
        assert right.status_code == 429, right.text


async def assert_counters_in(database: str) -> None:
    conn = await connect_raw(database)
    try:
        rows = await conn.fetch(
            "SELECT scope, attempts, lockouts, locked_until > extract(epoch from now()) AS locked"
            " FROM throttle_counters ORDER BY scope"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("login:account", MAX_ATTEMPTS, 1, True),
        ("login:address", MAX_ATTEMPTS, 0, False),  # only the attempts the account let by
    ]


@pytest.mark.parametrize("identity_backend", ["memory", "repository"])
async def test_fifty_concurrent_wrong_passwords_across_two_apps_sharing_postgres(
    fresh_database: str, tmp_path: Path, identity_backend: str
) -> None:
    settings = memory_settings(
        tmp_path,
        repo_database="postgres",
        postgres_dsn=fresh_database,
        create_schema_on_startup=True,
        # memory: each instance has its own accounts (the seeded admin in both); repository:
        # the accounts are shared too. Either way the counters are in PostgreSQL.
        identity_backend=identity_backend,
        seed_demo_data=False,
        login_max_attempts_per_account=MAX_ATTEMPTS,
        throttle_lock_seconds=LOCK_SECONDS,
        throttle_max_lock_seconds=LOCK_SECONDS,
        postgres_pool_timeout_seconds=PATIENT_POOL_SECONDS,
        postgres_statement_timeout_ms=PATIENT_STATEMENT_MS,
    )
    apps = [create_app(settings, features=(IDENTITY, KIT)) for _ in range(2)]
    async with AsyncExitStack() as stack:
        clients: list[httpx.AsyncClient] = []
        for app in apps:  # one after the other: the first creates the tables
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients.append(await stack.enter_async_context(client_of(app)))
        assert apps[0].state.services is not apps[1].state.services
        await fifty_wrong_then_the_right_one(clients)
    await assert_counters_in(fresh_database)


@asynccontextmanager
async def uvicorn_service(env: dict[str, str], log: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The service in a uvicorn process of its own; a client of it once it answers."""
    port = free_port()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "{{cookiecutter.package_name}}.main:create_app",
            "--factory",
            "--host=127.0.0.1",
            f"--port={port}",
            "--no-access-log",
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=PATIENT_POOL_SECONDS
        ) as client:
            await _wait_until_live(client, process, log)
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_live(
    client: httpx.AsyncClient, process: asyncio.subprocess.Process, log: Path
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_DEADLINE_SECONDS
    while loop.time() < deadline:
        if process.returncode is not None:
            output = await asyncio.to_thread(log.read_text)
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{output}")
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    output = await asyncio.to_thread(log.read_text)
    pytest.fail(f"uvicorn did not answer within {START_DEADLINE_SECONDS}s:\n{output}")


async def test_fifty_concurrent_wrong_passwords_across_two_uvicorn_processes(
    fresh_database: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "REPO_DATABASE": "postgres",
        "POSTGRES_DSN": fresh_database,
        "CREATE_SCHEMA_ON_STARTUP": "true",
        "IDENTITY_BACKEND": "repository",  # the accounts are shared as well
        "STORAGE_BACKEND": "local",
        "LOCAL_STORAGE_DIR": str(tmp_path / "objects"),
        "JWT_SECRET": "test-secret-that-is-long-enough-for-hs256!",
        "CURSOR_SECRET": "cursor-secret-shared-by-both-processes!",
        "ADMIN_EMAIL": ADMIN[0],
        "ADMIN_PASSWORD": ADMIN[1],
        "SEED_DEMO_DATA": "false",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT": str(MAX_ATTEMPTS),
        "THROTTLE_LOCK_SECONDS": str(LOCK_SECONDS),
        "THROTTLE_MAX_LOCK_SECONDS": str(LOCK_SECONDS),
        "POSTGRES_POOL_TIMEOUT_SECONDS": str(PATIENT_POOL_SECONDS),
        "POSTGRES_STATEMENT_TIMEOUT_MS": str(PATIENT_STATEMENT_MS),
        "LOG_LEVEL": "WARNING",
        "OTEL_ENABLED": "false",
    }
    async with AsyncExitStack() as stack:
        clients = []
        for name in ("first", "second"):  # one after the other: the first creates the tables
            log = tmp_path / f"uvicorn-{name}.log"
            clients.append(await stack.enter_async_context(uvicorn_service(env, log)))
        await fifty_wrong_then_the_right_one(clients)
    await assert_counters_in(fresh_database)
