"""Round trips per operation on PostgreSQL, counted on the wire.

The backend reaches the server through the loopback TCP proxy of the outage tests
(tests/support/tcp_proxy.py), which counts the client's requests: a burst of bytes that
follows a reply. Once the pool is warm (one connection, the statement already prepared on
it) every single-row operation is one round trip: no BEGIN/COMMIT around a read, no ping or
reset on checkout or return, no statement prepared again. Behaviour, not timing. And the
pool still does its job without those: a connection that died is replaced (a read that found
it dead runs again), and a caller waits its turn for a connection, for ``pool_timeout`` at most.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.errors import BackendUnavailable
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.backend_postgres import connect_raw, drop_tables, postgres_url
from tests.support.entities import Owner, Team, Widget, build_registry
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

Operation = Callable[[int], Awaitable[Any]]


def widget(n: int, **overrides: Any) -> Widget:
    values: dict[str, Any] = {"id": f"w{n:04d}", "sku": f"SKU-{n:04d}", "quantity": n % 50}
    values.update(overrides)
    return Widget(**values)


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[RepositoryProvider, TcpProxy]]:
    """A provider whose one pooled connection goes through a counting proxy."""
    url = make_url(postgres_url())
    probe = await connect_raw()  # skip locally, fail under CI, when there is no server
    await probe.close()
    registry = build_registry(uuid.uuid4().hex[:10])
    async with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        backend = PostgresBackend(through, pool_size=1, max_overflow=0)
        provider = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await provider.start(create_schema=True)
        try:
            yield provider, proxy
        finally:
            await provider.close()
            await drop_tables(postgres_url(), [spec.collection for spec in registry])


async def round_trips(proxy: TcpProxy, operation: Operation, n: int) -> tuple[int, int]:
    """Round trips and new connections of one call, after a first call warmed it up (the
    second call uses other values: the same statement, prepared once)."""
    await operation(n)
    trips, connections = proxy.round_trips, proxy.connections
    await operation(n + 1)
    return proxy.round_trips - trips, proxy.connections - connections


async def test_each_single_row_operation_is_one_round_trip(
    proxied: tuple[RepositoryProvider, TcpProxy],
) -> None:
    provider, proxy = proxied
    repo = provider.of(Widget)
    await repo.add_many([widget(i) for i in range(60)])
    fresh = itertools.count(1_000)
    operations: dict[str, Operation] = {
        "get by id": lambda n: repo.get(f"w{n:04d}"),
        "lookup by a unique field": lambda n: repo.get_by("sku", f"SKU-{n:04d}"),
        "filtered page": lambda n: repo.find(
            Query(filter={"quantity": {"gte": n}, "active": True}, sort="-quantity", limit=10)
        ),
        "count": lambda n: repo.count({"quantity": {"lt": n}}),
        "add": lambda n: repo.add(widget(next(fresh))),
    }
    counts = {name: await round_trips(proxy, op, 7) for name, op in operations.items()}
    assert counts == dict.fromkeys(operations, (1, 0))


async def test_a_batch_is_one_round_trip_and_a_populated_page_one_per_level(
    proxied: tuple[RepositoryProvider, TcpProxy],
) -> None:
    provider, proxy = proxied
    teams = await provider.of(Team).add_many([Team(name=f"t{i}") for i in range(3)])
    owners = await provider.of(Owner).add_many(
        [Owner(name=f"o{i}", email=f"o{i}@x.io", team_id=teams[i % 3].id) for i in range(6)]
    )
    fresh = itertools.count()

    async def add_many(n: int) -> None:
        batch = [widget(next(fresh), owner_id=owners[i % 6].id) for i in range(n)]
        await provider.of(Widget).add_many(batch)

    async def view_page(n: int) -> None:
        page = await provider.view("widget").find(Query(limit=20 + n), include=["owner.team"])
        assert all(item.related["owner"] is not None for item in page.items)

    # one COPY, whatever the size: the statement and its rows sent together, no BEGIN/COMMIT
    # (a COPY is atomic on its own)
    assert await round_trips(proxy, add_many, 50) == (1, 0)
    assert await round_trips(proxy, add_many, 1_000) == (1, 0)
    # widgets, their owners, the owners' teams: one SELECT each
    assert await round_trips(proxy, view_page, 0) == (3, 0)


async def test_a_dead_connection_is_replaced_and_only_a_read_runs_again(
    proxied: tuple[RepositoryProvider, TcpProxy],
) -> None:
    provider, proxy = proxied
    repo = provider.of(Widget)
    stored = await repo.add(widget(1))

    proxy.sever()  # the pooled connection is dead, and the client finds out in use
    assert await repo.get(stored.id) == stored  # the read ran again on a new connection

    proxy.sever()
    with pytest.raises(BackendUnavailable):  # whether it was applied is unknown: not retried
        await repo.add(widget(2))
    assert await repo.count() == 1

    await proxy.cut()  # every connection reset at once, as when the server restarts
    await proxy.restore()
    await asyncio.sleep(0.05)  # the resets have reached the client: found dead at checkout
    assert (await repo.add(widget(3))).id == "w0003"
    assert await repo.count() == 2


async def test_a_caller_waits_its_turn_for_a_connection_then_gives_up() -> None:
    probe = await connect_raw()
    await probe.close()
    registry = build_registry(uuid.uuid4().hex[:10])
    backend = PostgresBackend(postgres_url(), pool_size=1, max_overflow=0, pool_timeout=0.5)
    provider = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
    await provider.start(create_schema=True)
    holding, done = asyncio.Event(), asyncio.Event()

    async def hold_the_only_connection() -> None:
        async with provider.unit_of_work() as uow:
            await uow.of(Widget).add(widget(1))
            holding.set()
            await done.wait()

    try:
        holder = asyncio.create_task(hold_the_only_connection())
        await holding.wait()
        with pytest.raises(BackendUnavailable) as info:
            await provider.of(Widget).count()
        assert info.value.message == "postgres is unavailable: timed out waiting for a connection"
        # The hand-over is checked next, not the budget: a busy machine may take longer than
        # 0.5 s to commit the unit and give its connection back.
        backend.pool._timeout = 300
        waiting = asyncio.create_task(provider.of(Widget).count())
        await asyncio.sleep(0.05)
        done.set()
        await holder
        assert await waiting == 1  # handed the connection the unit gave back, after its commit
    finally:
        await provider.close()
        await drop_tables(postgres_url(), [spec.collection for spec in registry])
