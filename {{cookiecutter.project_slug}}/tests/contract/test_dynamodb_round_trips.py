"""How many requests each DynamoDB operation sends (botocore's event hooks on the real client),
the shape of a hand-written data layer: a lookup by a unique field is one Query on its GSI, a
filtered page one Query, a populated page one request per relation, ``add_many`` the fewest
transactions its uniqueness items fit in. Against moto's server (or TEST_DYNAMODB_ENDPOINT)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.dynamodb import DynamoDbBackend
from {{cookiecutter.package_name}}.adapters.persistence.dynamodb.tables import counter_attribute
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.errors import AlreadyExists, ReferenceNotFound
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Populated

from tests.support.backend_dynamodb import dynamodb_endpoint, make_backend
from tests.support.entities import (
    Owner,
    Project,
    Status,
    Task,
    Team,
    Widget,
    build_integrity_registry,
    build_registry,
)
from tests.support.round_trips import Calls

Ddb = tuple[DynamoDbBackend, RepositoryProvider]

PAGE_FILTER: dict[str, Any] = {"status": "active", "quantity": {"gte": 10}}


async def _open(request: pytest.FixtureRequest, integrity: bool) -> AsyncIterator[Ddb]:
    endpoint = dynamodb_endpoint(request)
    suffix = uuid.uuid4().hex[:10]
    registry = build_integrity_registry(suffix) if integrity else build_registry(suffix)
    backend = make_backend(endpoint)
    provider = RepositoryProvider(registry, {"dynamodb": lambda: backend}, "dynamodb")
    await provider.start(create_schema=True)
    try:
        yield backend, provider
    finally:
        await backend.drop(list(registry))
        await provider.close()


@pytest.fixture
async def ddb(request: pytest.FixtureRequest) -> AsyncIterator[Ddb]:
    async for opened in _open(request, integrity=False):
        yield opened


@pytest.fixture
async def linked(request: pytest.FixtureRequest) -> AsyncIterator[Ddb]:
    async for opened in _open(request, integrity=True):
        yield opened


def widgets(count: int, owner_ids: list[str] | None = None, start: int = 0) -> list[Widget]:
    statuses = [Status.ACTIVE, Status.DRAFT, Status.ARCHIVED]
    return [
        Widget(
            id=f"w{n:04d}",
            sku=f"SKU-{n:04d}",
            quantity=n % 50,
            status=statuses[n % 3],
            owner_id=owner_ids[n % len(owner_ids)] if owner_ids else None,
        )
        for n in range(start, start + count)
    ]


async def test_dynamodb_lookups_by_a_unique_field_are_one_gsi_query(ddb: Ddb) -> None:
    backend, provider = ddb
    repo, owners = provider.of(Widget), provider.of(Owner)
    await repo.add_many(widgets(40))
    await owners.add(Owner(name="Ada", email="ada@x.io"))
    calls = Calls(backend)
    lookups: list[Callable[[], Awaitable[Any]]] = [
        lambda: repo.get_by("sku", "SKU-0007"),
        lambda: repo.find_one({"sku": "SKU-0007"}),
        lambda: repo.find_one({"sku": {"eq": "SKU-0007"}}),
        lambda: repo.find(Query(filter={"sku": "SKU-0007"})),
        lambda: repo.exists({"sku": "SKU-0007"}),
    ]
    for lookup in lookups:
        assert await calls.during(lookup()) == ["Query"]
        assert calls.params("Query")[0]["IndexName"] == "ix_sku"
    found = await repo.get_by("sku", "SKU-0007")
    assert found is not None
    assert found.id == "w0007"
    assert await calls.during(owners.get_by("email", "ada@x.io")) == ["Query"]
    assert calls.params("Query")[0]["IndexName"] == "ix_email"


async def test_dynamodb_a_filtered_page_is_one_query(ddb: Ddb) -> None:
    backend, provider = ddb
    repo = provider.of(Widget)
    await repo.add_many(widgets(45))
    await repo.add_many(widgets(45, start=45))
    expected = [
        w.id
        for w in sorted(widgets(90), key=lambda w: (-w.quantity, w.id))
        if w.status is Status.ACTIVE and w.quantity >= 10
    ]
    calls = Calls(backend)
    for sort in ("-quantity", None):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            calls.clear()
            page = await repo.find(Query(filter=PAGE_FILTER, sort=sort, limit=10, cursor=cursor))
            assert calls.names == ["Query"], "one Query per page: no count, no probe for more"
            seen.extend(w.id for w in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(seen) == sorted(expected)
        if sort:
            assert seen == expected
    assert await calls.during(repo.count(PAGE_FILTER)) == ["Query"]
    assert calls.params("Query")[0]["Select"] == "COUNT"
    assert await repo.count(PAGE_FILTER) == len(expected)


async def test_dynamodb_a_populated_page_is_one_request_per_relation(ddb: Ddb) -> None:
    backend, provider = ddb
    teams = await provider.of(Team).add_many([Team(name=f"t{i}") for i in range(3)])
    owners = await provider.of(Owner).add_many(
        [Owner(name=f"o{i}", email=f"o{i}@x.io", team_id=teams[i % 3].id) for i in range(12)]
    )
    owner_ids = [o.id for o in owners]
    await provider.of(Widget).add_many(widgets(30, owner_ids))
    await provider.of(Widget).add_many(widgets(30, owner_ids, start=30))
    calls = Calls(backend)
    page = await provider.view("widget").find(Query(limit=50), include=["owner.team"])
    assert calls.names == ["Scan", "BatchGetItem", "BatchGetItem"]  # widgets, owners, teams
    assert len(page.items) == 50
    for item in page.items:
        owner = item.related["owner"]
        assert isinstance(owner, Populated)
        assert isinstance(owner.related["team"], Populated)


async def test_dynamodb_add_many_sends_the_fewest_transactions_and_nothing_else(
    ddb: Ddb,
) -> None:
    """Each widget is two actions (its item, its sku's uniqueness item): 250 widgets are 500
    actions, 5 transactions of 100, and no read (1000 would be 20)."""
    backend, provider = ddb
    repo = provider.of(Widget)
    calls = Calls(backend)
    assert await calls.during(repo.add_many(widgets(250))) == ["TransactWriteItems"] * 5
    assert all(len(p["TransactItems"]) == 100 for p in calls.params("TransactWriteItems"))
    assert await repo.count() == 250

    # A sku taken by the last transaction's widgets: the earlier ones are undone.
    clash = [*widgets(200, start=1000), widgets(1, start=1200)[0]]
    clash[-1].sku = "SKU-0003"
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many(clash)
    assert info.value.field == "sku"
    assert await repo.count() == 250
    assert await repo.get_many([w.id for w in clash]) == []
    assert await repo.find_one({"sku": "SKU-1000"}) is None, "the uniqueness items go too"
    await repo.add_many(widgets(60, start=1000))  # so their unique values are free again


async def test_dynamodb_add_many_of_plain_items_checks_ids_once_then_batches(
    ddb: Ddb,
) -> None:
    """Items without uniqueness items or counters: one BatchGetItem per 100 ids (the only way
    to refuse a taken id: BatchWriteItem has no conditions), then BatchWriteItem in 25s."""
    backend, provider = ddb
    calls = Calls(backend)
    teams = [Team(id=f"t{n:04d}", name=f"team {n}") for n in range(250)]
    sent = await calls.during(provider.of(Team).add_many(teams))
    assert sent.count("BatchGetItem") == 3
    assert sent.count("BatchWriteItem") == 10
    assert len(sent) == 13


async def test_dynamodb_add_many_with_references_undoes_counters_when_refused(
    linked: Ddb,
) -> None:
    backend, provider = linked
    projects = await provider.of(Project).add_many([Project(name=f"P{i}") for i in range(3)])
    tasks = provider.of(Task)
    calls = Calls(backend)
    batch = [Task(project_id=projects[n % 3].id) for n in range(150)]
    sent = await calls.during(tasks.add_many(batch))
    assert set(sent) == {"TransactWriteItems"}
    assert len(sent) == 2  # 150 tasks + 3 counted projects: 153 actions
    refused = [*(Task(project_id=projects[0].id) for _ in range(120)), Task(project_id="gone")]
    with pytest.raises(ReferenceNotFound):
        await tasks.add_many(refused)
    assert await tasks.count() == 150
    table = backend.layout(provider.registry.get("project")).table
    for project in projects:
        # every counter is exact again: the undone tasks gave back what they counted
        stored = await backend.client.get_item(TableName=table, Key={"id": {"S": project.id}})
        assert stored["Item"][counter_attribute("task", "project_id")] == {"N": "50"}
