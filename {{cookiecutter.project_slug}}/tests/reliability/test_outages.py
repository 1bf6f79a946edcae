"""Backend outages, for real: the service talks to a real server through a TCP proxy
(tests/support/tcp_proxy.py) that the test cuts, stalls and restores, while one app instance
(``create_app``, driven in process through httpx ``ASGITransport``) keeps running.

For PostgreSQL, MongoDB (mongoeco's wire server or ``TEST_MONGO_DSN``) and DynamoDB (moto's
server or ``TEST_DYNAMODB_ENDPOINT``):

- server gone (connections reset, new ones refused): requests answer 503 ``backend_unavailable``
  with ``Retry-After`` within the request timeout, ``/health/ready`` turns 503; once the server is
  back the same app answers 200 again, ready included (no restart);
- network stalled (connections open, no byte moves): no request hangs past
  ``REQUEST_TIMEOUT_SECONDS``; it answers 503 and recovers the same way.

And PostgreSQL behind a closed port from the start: with start-up work that needs the database
(schema creation, seeding) the app refuses to start, quickly and with the reason; without it,
it starts, reports not ready, and serves once the database appears.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from sqlalchemy.engine import make_url

from {{cookiecutter.package_name}}.adapters.http.errors import install_error_handlers
from {{cookiecutter.package_name}}.ports.errors import BackendUnavailable, BatchWriteError
from {{cookiecutter.package_name}}.settings import Settings

from tests.support.app import ADMIN, WIDGET_ID, kit_app, kit_registry, memory_settings
from tests.support.backend_dynamodb import dynamodb_endpoint, make_backend
from tests.support.backend_mongo import mongo_dsn
from tests.support.leaks import assert_no_leak
from tests.support.postgres_scratch import create_scratch_database, drop_scratch_database
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

# REQUEST_TIMEOUT_SECONDS of the app under test: long enough that a healthy request on a busy
# 2-core machine never reaches it (1.5 s did; the drivers get half of it, and a 3 s MongoDB
# budget failed under load), short enough that a stalled backend is answered well before the
# client would give up. The exact timing of the time-out itself is
# checked on a fake clock in tests/api/test_bad_input.py; here it only has to be bounded.
TIMEOUT = 8.0
SLACK = 30.0  # scheduling margin on a very busy machine: what is checked is "answered, not hung"
RECOVERY_SECONDS = 30.0


@dataclass
class Target:
    """A backend server the proxy fronts, and the settings pointing the app at the proxy."""

    host: str
    port: int
    settings: Callable[[int], dict[str, Any]]  # proxy port -> Settings overrides
    cleanup: Callable[[Settings], Awaitable[None]]


async def _no_cleanup(_: Settings) -> None:
    return None


# --- one target per backend ---------------------------------------------------------------


@asynccontextmanager
async def postgres_target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    url = make_url(await create_scratch_database())
    try:
        yield Target(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            settings=lambda port: {
                "repo_database": "postgres",
                "postgres_dsn": url.set(host="127.0.0.1", port=port).render_as_string(
                    hide_password=False
                ),
                "postgres_pool_timeout_seconds": TIMEOUT / 2,
            },
            cleanup=_no_cleanup,
        )
    finally:
        await drop_scratch_database(url.render_as_string(hide_password=False))


@asynccontextmanager
async def mongo_target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    dsn = mongo_dsn(request)  # unavailable() when neither a server nor mongoeco is there
    parts = urlsplit(dsn)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    if parts.scheme != "mongodb" or "," in hosts or parts.port is None:
        pytest.skip(f"the outage proxy needs a single-host mongodb:// URI, not {parts.scheme}")
    auth = parts.netloc[: -len(hosts)]
    # the proxy is the only host the driver may use (never one a server announces)
    direct = "" if "directconnection" in parts.query.lower() else "directConnection=true"
    query = "&".join(p for p in (parts.query, direct) if p)
    database = f"outage_{uuid.uuid4().hex[:12]}"

    async def drop(_: Settings) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(dsn, timeoutMS=5000)
        try:
            with suppress(PyMongoError):
                await client.drop_database(database)
        finally:
            await client.close()

    yield Target(
        host=parts.hostname or "127.0.0.1",
        port=parts.port,
        settings=lambda port: {
            "repo_database": "mongo",
            "mongo_dsn": f"mongodb://{auth}127.0.0.1:{port}/?{query}",
            "mongo_db": database,
            "mongo_timeout_ms": int(TIMEOUT * 1000 / 2),
            "mongo_transactions": False,
        },
        cleanup=drop,
    )


@asynccontextmanager
async def dynamodb_target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    endpoint = dynamodb_endpoint(request)  # unavailable() when moto is not there
    parts = urlsplit(endpoint)
    prefix = f"outage{uuid.uuid4().hex[:8]}-"

    async def drop(settings: Settings) -> None:
        cleaner = make_backend(endpoint, table_prefix=prefix)
        await cleaner.start([], create_schema=False)
        try:
            await cleaner.drop(list(kit_registry()))
        finally:
            await cleaner.close()

    yield Target(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 80,
        settings=lambda port: {
            "repo_database": "dynamodb",
            "dynamodb_endpoint_url": f"http://127.0.0.1:{port}",
            "dynamodb_table_prefix": prefix,
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        },
        cleanup=drop,
    )


TARGETS: dict[str, Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Target]]] = {
    "postgres": postgres_target,
    "mongo": mongo_target,
    "dynamodb": dynamodb_target,
}


# --- the app behind the proxy -------------------------------------------------------------

WIDGET_PATH = f"/widgets/{WIDGET_ID}"  # seeded at start-up by the kit's test feature


@dataclass
class Service:
    http: httpx.AsyncClient
    proxy: TcpProxy
    editor: dict[str, str]


def _settings(tmp_path: Path, target: Target, port: int, **overrides: Any) -> Settings:
    return memory_settings(
        tmp_path, request_timeout_seconds=TIMEOUT, **target.settings(port), **overrides
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = kit_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture(params=list(TARGETS))
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    async with TARGETS[request.param](request) as target:
        settings: Settings | None = None
        try:
            async with tcp_proxy(target.host, target.port) as proxy:
                settings = _settings(tmp_path, target, proxy.port)
                async with running(settings) as http:
                    login = await http.post(
                        "/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
                    )
                    token = login.json()["access_token"]
                    yield Service(http, proxy, {"Authorization": f"Bearer {token}"})
        finally:
            if settings is not None:
                await target.cleanup(settings)


# --- checks ------------------------------------------------------------------------------


async def _timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await call
    return response, loop.time() - started


def _assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert_no_leak(response)
    assert response.json()["error"] == "backend_unavailable"
    assert response.json()["message"]
    assert response.headers["Retry-After"].isdigit()
    assert elapsed < TIMEOUT + SLACK, f"answered after {elapsed:.2f}s"


async def _assert_serving(service: Service) -> None:
    widget = await service.http.get(WIDGET_PATH)
    assert widget.status_code == 200, widget.text
    ready = await service.http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


async def _assert_down(service: Service) -> None:
    read, elapsed = await _timed(service.http.get(WIDGET_PATH))
    _assert_unavailable(read, elapsed)
    write, elapsed = await _timed(
        service.http.post(
            "/owners",
            json={"name": "during", "email": "during@example.org"},
            headers=service.editor,
        )
    )
    _assert_unavailable(write, elapsed)
    ready, elapsed = await _timed(service.http.get("/health/ready"))
    assert ready.status_code == 503, ready.text
    assert_no_leak(ready)
    assert ready.headers["Retry-After"].isdigit()
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["repositories"] != "ok"
    assert elapsed < TIMEOUT + SLACK


async def _assert_recovers(service: Service, *, refused_writes_happened: bool) -> None:
    """Serving again without a restart. A driver may spend one call noticing that its old
    connections are dead, so allow a few attempts, each answered (never hung)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + RECOVERY_SECONDS
    while True:
        response, elapsed = await _timed(service.http.get(WIDGET_PATH))
        if response.status_code == 200:
            break
        _assert_unavailable(response, elapsed)
        assert loop.time() < give_up, f"not serving {RECOVERY_SECONDS}s after the restore"
        await asyncio.sleep(0.2)
    await _assert_serving(service)
    created = await service.http.post(
        "/owners", json={"name": "after", "email": "after@example.org"}, headers=service.editor
    )
    assert created.status_code == 201, created.text
    names = {p["name"] for p in (await service.http.get("/owners")).json()["items"]}
    if not refused_writes_happened:
        assert "during" not in names, "a write refused with 503 must not have happened"


async def test_server_gone_then_back(service: Service) -> None:
    await _assert_serving(service)
    assert service.proxy.connections > 0, "the app did not go through the proxy"

    await service.proxy.cut()
    await _assert_down(service)

    await service.proxy.restore()
    await _assert_recovers(service, refused_writes_happened=False)


async def test_network_stalled_then_back(service: Service) -> None:
    await _assert_serving(service)

    service.proxy.stall()
    await _assert_down(service)

    await service.proxy.restore()
    # A write that timed out has an unknown outcome: its bytes may already be on their way and
    # reach the server once the network heals (DynamoDB through aiohttp does exactly that).
    # docs/reliability.md tells clients to retry such writes idempotently.
    await _assert_recovers(service, refused_writes_happened=True)


# --- PostgreSQL down from the start ---------------------------------------------------------


@pytest.fixture
async def postgres(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    async with postgres_target(request) as target:
        yield target


async def test_start_up_that_needs_the_database_fails_fast(
    postgres: Target, tmp_path: Path
) -> None:
    async with tcp_proxy(postgres.host, postgres.port) as proxy:
        await proxy.cut()  # a closed port
        app = kit_app(_settings(tmp_path, postgres, proxy.port))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(BackendUnavailable, match="postgres is unavailable"):
            async with app.router.lifespan_context(app):
                pass
        assert loop.time() - started < TIMEOUT + SLACK


async def test_without_start_up_work_it_starts_not_ready_and_serves_when_the_database_appears(
    postgres: Target, tmp_path: Path
) -> None:
    # The schema and demo data exist (migrations ran), as in production.
    async with tcp_proxy(postgres.host, postgres.port) as proxy:
        async with running(_settings(tmp_path, postgres, proxy.port)):
            pass
        await proxy.cut()
        settings = _settings(
            tmp_path, postgres, proxy.port, create_schema_on_startup=False, seed_demo_data=False
        )
        async with running(settings) as http:
            assert (await http.get("/health/live")).status_code == 200
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            read, elapsed = await _timed(http.get(WIDGET_PATH))
            _assert_unavailable(read, elapsed)

            await proxy.restore()
            widget = await http.get(WIDGET_PATH)
            assert widget.status_code == 200, widget.text
            assert (await http.get("/health/ready")).status_code == 200


# --- a batch that failed part-way -----------------------------------------------------------


async def test_a_partial_batch_is_a_retryable_503_naming_the_items_not_written() -> None:
    """DynamoDB's non-atomic batches raise BatchWriteError (tested against moto in the
    contract suite); over HTTP it tells the caller exactly what to send again."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/batch")
    async def batch() -> None:
        raise BatchWriteError("widget", ["w-7", "w-9"])

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/batch")

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = response.json()
    assert body["error"] == "batch_incomplete"
    assert body["failed_keys"] == ["w-7", "w-9"]
    assert "2 widget item(s) were not written" in body["message"]
