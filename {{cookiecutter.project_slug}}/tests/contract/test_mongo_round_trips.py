"""How many commands each MongoDB operation sends (PyMongo's command monitoring), the shape of
a hand-written data layer: a lookup by a unique field is one ``find``, a page one ``find`` (no
count, no second query to learn whether another page follows), a populated page one ``find``
per relation, ``add_many`` one ``insert`` plus what the reference counters need. Runs against
the contract suite's server (``TEST_MONGO_DSN`` or mongoeco's wire server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.mongo import MongoBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)
from {{cookiecutter.package_name}}.ports.errors import ReferenceNotFound
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Populated

from tests.support.backend_mongo import TIMEOUT_MS, mongo_dsn, scratch_database
from tests.support.entities import (
    Member,
    Owner,
    Project,
    Status,
    Task,
    Team,
    Widget,
    build_integrity_registry,
    build_registry,
)
from tests.support.round_trips import CommandLog

Opened = tuple[RepositoryProvider, MongoBackend, CommandLog]
Opener = Callable[..., Awaitable[Opened]]

PAGE_FILTER: dict[str, Any] = {"status": "active", "quantity": {"gte": 10}}


@pytest.fixture
async def open_logged(request: pytest.FixtureRequest) -> AsyncIterator[Opener]:
    """Start a provider whose client logs every command: ``open_logged(registry, **options)``."""
    dsn = mongo_dsn(request)
    started: list[RepositoryProvider] = []
    async with scratch_database(dsn) as name:

        async def open_(registry: EntityRegistry, **options: Any) -> Opened:
            log = CommandLog()
            backend = MongoBackend(
                dsn,
                name,
                timeout_ms=TIMEOUT_MS,
                client_options={"event_listeners": [log]},
                **options,
            )
            provider = RepositoryProvider(registry, {"mongo": lambda: backend}, "mongo")
            await provider.start(create_schema=True)
            started.append(provider)
            return provider, backend, log

        try:
            yield open_
        finally:
            for provider in started:
                await provider.close()


def widgets(count: int, owner_ids: list[str] | None = None) -> list[Widget]:
    statuses = [Status.ACTIVE, Status.DRAFT, Status.ARCHIVED]
    return [
        Widget(
            id=f"w{n:04d}",
            sku=f"SKU-{n:04d}",
            quantity=n % 50,
            status=statuses[n % 3],
            owner_id=owner_ids[n % len(owner_ids)] if owner_ids else None,
        )
        for n in range(count)
    ]


async def test_mongo_lookups_by_a_unique_field_are_one_find(open_logged: Opener) -> None:
    provider, _, log = await open_logged(build_registry(uuid.uuid4().hex[:10]))
    repo, owners = provider.of(Widget), provider.of(Owner)
    await repo.add_many(widgets(40))
    await owners.add(Owner(name="Ada", email="ada@x.io"))
    lookups: list[Callable[[], Awaitable[Any]]] = [
        lambda: repo.get_by("sku", "SKU-0007"),
        lambda: repo.find_one({"sku": "SKU-0007"}),
        lambda: repo.find_one({"sku": {"eq": "SKU-0007"}}),
        lambda: repo.find(Query(filter={"sku": "SKU-0007"})),
        lambda: repo.exists({"sku": "SKU-0007"}),
    ]
    for lookup in lookups:
        assert await log.during(lookup()) == ["find"]
    found = await repo.get_by("sku", "SKU-0007")
    assert found is not None
    assert found.id == "w0007"
    assert await repo.get_by("sku", "nope") is None
    assert await log.during(owners.get_by("email", "ada@x.io")) == ["find"]


async def test_mongo_a_filtered_page_is_one_find(open_logged: Opener) -> None:
    provider, _, log = await open_logged(build_registry(uuid.uuid4().hex[:10]))
    repo = provider.of(Widget)
    await repo.add_many(widgets(150))
    expected = [
        w.id
        for w in sorted(widgets(150), key=lambda w: (-w.quantity, w.id))
        if w.status is Status.ACTIVE and w.quantity >= 10
    ]
    for sort in ("-quantity", None):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            query = Query(filter=PAGE_FILTER, sort=sort, limit=20, cursor=cursor)
            log.names.clear()
            page = await repo.find(query)
            assert log.names == ["find"], "one find per page: no count, no probe for more"
            seen.extend(w.id for w in page.items)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == (expected if sort else sorted(expected))
        assert pages == -(-len(expected) // 20)
    assert await log.during(repo.find(Query(filter=PAGE_FILTER, limit=20, offset=20))) == ["find"]
    assert await log.during(repo.count(PAGE_FILTER)) == ["aggregate"]
    assert await repo.count(PAGE_FILTER) == len(expected)


async def test_mongo_a_populated_page_is_one_find_per_relation(open_logged: Opener) -> None:
    provider, _, log = await open_logged(build_registry(uuid.uuid4().hex[:10]))
    teams = await provider.of(Team).add_many([Team(name=f"t{i}") for i in range(3)])
    owners = await provider.of(Owner).add_many(
        [Owner(name=f"o{i}", email=f"o{i}@x.io", team_id=teams[i % 3].id) for i in range(12)]
    )
    await provider.of(Widget).add_many(widgets(60, [o.id for o in owners]))
    view = provider.view("widget")
    log.names.clear()
    page = await view.find(Query(limit=50), include=["owner.team"])
    assert log.names == ["find", "find", "find"]  # widgets, their owners, the owners' teams
    assert len(page.items) == 50
    for item in page.items:
        owner = item.related["owner"]
        assert isinstance(owner, Populated)
        assert isinstance(owner.related["team"], Populated)


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "standalone"])
async def test_mongo_add_many_of_1000_is_one_insert(
    open_logged: Opener, transactions: bool
) -> None:
    provider, _, log = await open_logged(
        build_registry(uuid.uuid4().hex[:10]), transactions=transactions
    )
    batch = [Team(id=f"t{n:04d}", name=f"team {n}") for n in range(1000)]
    commit = ["commitTransaction"] if transactions else []
    assert await log.during(provider.of(Team).add_many(batch)) == ["insert", *commit]
    assert await provider.of(Team).count() == 1000


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "standalone"])
async def test_mongo_add_many_counts_references_in_one_update_per_target_collection(
    open_logged: Opener, transactions: bool
) -> None:
    """In a transaction the counters of every target of one collection are raised by one
    ``update`` command; without one, target by target (each must be known to have been raised
    before the next, so that a missing target undoes exactly what was counted)."""
    provider, backend, log = await open_logged(
        build_integrity_registry(uuid.uuid4().hex[:10]), transactions=transactions
    )
    projects = await provider.of(Project).add_many([Project(name=f"P{i}") for i in range(4)])
    members = await provider.of(Member).add_many([Member(name=f"M{i}") for i in range(3)])
    batch = [Task(project_id=projects[n % 4].id, assignee_id=members[n % 3].id) for n in range(120)]
    sent = await log.during(provider.of(Task).add_many(batch))
    if transactions:
        assert sent == ["update", "update", "insert", "commitTransaction"]
    else:
        assert sent == ["update"] * (4 + 3) + ["insert"]
    collection = backend.collection(provider.registry.get("project"))
    counted = {d["_id"]: d["_refs"]["task:project_id"] async for d in collection.find({})}
    assert counted == {p.id: 30 for p in projects}

    # A missing target: nothing written, every counter back where it was.
    refused = [Task(project_id=projects[0].id), Task(project_id="missing")]
    with pytest.raises(ReferenceNotFound):
        await provider.of(Task).add_many(refused)
    assert await provider.of(Task).count() == 120
    counted = {d["_id"]: d["_refs"]["task:project_id"] async for d in collection.find({})}
    assert counted == {p.id: 30 for p in projects}
