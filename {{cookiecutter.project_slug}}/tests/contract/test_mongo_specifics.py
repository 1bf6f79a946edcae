"""What only the MongoDB adapter does: indexes, TTL mirror, BSON mapping, bounded round trips,
both add_many strategies, reference counters with and without transactions, error messages
and unreachable servers. Runs against the same server as the contract suite
(``TEST_MONGO_DSN`` or mongoeco's wire server)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.errors import InvalidDocument
from pymongo.errors import (
    BulkWriteError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from {{cookiecutter.package_name}}.adapters.persistence.mongo import MongoBackend
from {{cookiecutter.package_name}}.adapters.persistence.mongo.backend import TTL_SHADOW_FIELD
from {{cookiecutter.package_name}}.adapters.persistence.mongo.errors import translate
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    ReferenceNotFound,
    StillReferenced,
    TransactionsUnsupported,
)
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.backend_mongo import TIMEOUT_MS, mongo_dsn, scratch_database
from tests.support.entities import (
    Dimensions,
    Label,
    Member,
    Owner,
    Project,
    Session,
    Status,
    Step,
    Task,
    Team,
    Vote,
    Widget,
    WidgetLabel,
    build_integrity_registry,
    build_registry,
)
from tests.support.round_trips import CommandLog
from tests.support.services import free_port

Opener = Callable[..., Any]


@pytest.fixture
async def database(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    dsn = mongo_dsn(request)
    async with scratch_database(dsn) as name:
        yield dsn, name


@pytest.fixture
def registry() -> EntityRegistry:
    return build_registry(uuid.uuid4().hex[:10])


@pytest.fixture
async def open_provider(
    database: tuple[str, str], registry: EntityRegistry
) -> AsyncIterator[Callable[..., Any]]:
    """Start a provider on a MongoBackend built with the given keyword arguments."""
    dsn, name = database
    started: list[RepositoryProvider] = []

    async def open_(**options: Any) -> tuple[RepositoryProvider, MongoBackend]:
        backend = MongoBackend(dsn, name, timeout_ms=TIMEOUT_MS, **options)
        provider = RepositoryProvider(registry, {"mongo": lambda: backend}, "mongo")
        await provider.start(create_schema=True)
        started.append(provider)
        return provider, backend

    yield open_
    for provider in started:
        await provider.close()


@pytest.fixture
async def open_integrity(database: tuple[str, str]) -> AsyncIterator[Callable[..., Any]]:
    """Like ``open_provider``, with the integrity contract's entities (fresh collections)."""
    dsn, name = database
    registry = build_integrity_registry(uuid.uuid4().hex[:10])
    started: list[RepositoryProvider] = []

    async def open_(**options: Any) -> tuple[RepositoryProvider, MongoBackend]:
        backend = MongoBackend(dsn, name, timeout_ms=TIMEOUT_MS, **options)
        provider = RepositoryProvider(registry, {"mongo": lambda: backend}, "mongo")
        await provider.start(create_schema=True)
        started.append(provider)
        return provider, backend

    yield open_
    for provider in started:
        await provider.close()


async def index_info(backend: MongoBackend, registry: EntityRegistry, entity: str) -> Any:
    collection = backend.collection(registry.get(entity))
    return {ix["name"]: ix async for ix in await collection.list_indexes()}


async def test_indexes_exist_after_start_and_start_is_idempotent(
    open_provider: Opener, registry: EntityRegistry
) -> None:
    _, backend = await open_provider()
    await backend.ping()
    await backend.start(list(registry), create_schema=True)  # again, same process
    _, other = await open_provider()  # and from a second client, as a restarted service
    widgets = await index_info(other, registry, "widget")
    assert set(widgets) == {
        "_id_",
        "unique_sku",
        "unique_barcode",
        "index_owner_id",
        "index_status",
    }
    for field in ("sku", "barcode"):
        index = widgets[f"unique_{field}"]
        assert index["unique"] is True
        assert dict(index["key"]) == {field: 1}
        assert field in index["partialFilterExpression"], "nulls must not collide"
    assert not widgets["index_status"].get("unique", False)
    sessions = await index_info(other, registry, "session")
    ttl = sessions["ttl_expires_at"]
    assert dict(ttl["key"]) == {TTL_SHADOW_FIELD: 1}
    assert ttl["expireAfterSeconds"] == 0


async def test_epoch_ttl_field_is_mirrored_as_a_date(
    open_provider: Opener, registry: EntityRegistry
) -> None:
    provider, backend = await open_provider()
    repo = provider.of(Session)
    expires = int(time.time()) + 3600
    stored = await repo.add(Session(user="a", expires_at=expires))
    collection = backend.collection(registry.get("session"))
    raw = await collection.find_one({"_id": stored.id})
    assert raw is not None
    assert raw["expires_at"] == expires
    assert raw[TTL_SHADOW_FIELD] == dt.datetime.fromtimestamp(expires, dt.UTC)
    await repo.update_fields(stored.id, {"expires_at": expires + 60})
    raw = await collection.find_one({"_id": stored.id})
    assert raw is not None
    assert raw[TTL_SHADOW_FIELD] == dt.datetime.fromtimestamp(expires + 60, dt.UTC)


async def test_expired_documents_not_yet_reaped_never_block_writes(
    open_provider: Opener, registry: EntityRegistry
) -> None:
    provider, backend = await open_provider()
    repo = provider.of(Session)
    past = int(time.time()) - 10
    await backend.collection(registry.get("session")).insert_one(
        {"_id": "s1", "user": "old", "expires_at": past, "version": 7}
    )
    assert await repo.get("s1") is None
    fresh = await repo.add(Session(id="s1", user="new", expires_at=past + 7200))
    assert (await repo.get_or_raise("s1")) == fresh
    assert await repo.delete_many(["s1"]) == 1
    await backend.collection(registry.get("session")).insert_one(
        {"_id": "s2", "user": "old", "expires_at": past}
    )
    replaced = await repo.upsert(Session(id="s2", user="again", expires_at=past + 7200))
    assert await repo.get("s2") == replaced
    assert await repo.count() == 1


async def test_bson_types_on_disk_and_round_trip(
    open_provider: Opener, registry: EntityRegistry
) -> None:
    provider, backend = await open_provider()
    repo = provider.of(Widget)
    ref = uuid.uuid4()
    widget = Widget(
        sku="B-1",
        price=Decimal("1234567890.123456789"),
        status=Status.DRAFT,
        released_on=dt.date(2024, 2, 29),
        created_at=dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
        ref=ref,
        labels={"b", "a", "c"},
        tags=["z", "a"],
        dims=Dimensions(1.5, 2.0, "in"),
        attributes={"amount": Decimal("0.10"), "deep": {"list": [1, "two", None]}},
    )
    stored = await repo.add(widget)
    assert stored.created_at.microsecond == 123000, "BSON dates keep milliseconds"
    assert await repo.get_or_raise(widget.id) == stored, "add returns what was stored"

    raw_options: CodecOptions[dict[str, Any]] = CodecOptions(
        tz_aware=True, uuid_representation=UuidRepresentation.UNSPECIFIED
    )
    collection = backend.collection(registry.get("widget")).with_options(codec_options=raw_options)
    raw = await collection.find_one({"_id": widget.id})
    assert raw is not None
    assert "id" not in raw, "the id is the _id"
    assert raw["price"] == Decimal128("1234567890.123456789")
    assert raw["status"] == "draft"
    assert raw["released_on"] == dt.datetime(2024, 2, 29, tzinfo=dt.UTC)
    assert isinstance(raw["ref"], Binary)
    assert raw["ref"].subtype == 4
    assert raw["labels"] == ["a", "b", "c"]
    assert raw["dims"] == {"width": 1.5, "height": 2.0, "unit": "in"}
    assert raw["attributes"]["amount"] == Decimal128("0.10")

    loaded = await repo.get_or_raise(widget.id)
    assert loaded.price == Decimal("1234567890.123456789")
    assert loaded.status is Status.DRAFT
    assert loaded.released_on == dt.date(2024, 2, 29)
    assert loaded.ref == ref
    assert loaded.labels == {"a", "b", "c"}
    assert loaded.dims == Dimensions(1.5, 2.0, "in")
    assert loaded.attributes == {"amount": Decimal("0.10"), "deep": {"list": [1, "two", None]}}
    assert (await repo.find_one({"ref": str(ref)})) == stored
    assert (await repo.find_one({"labels": {"eq": ["c", "a", "b"]}})) == stored, "as sets"
    assert await repo.find_one({"labels": {"eq": ["a", "b"]}}) is None


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"name": {"contains": "a.b"}}, {"a.b"}),
        ({"name": {"contains": "(x"}}, {"(x)"}),
        ({"name": {"begins_with": "a."}}, {"a.b"}),
        ({"name": {"endswith": "end"}}, {"the end"}),
        ({"name": {"iendswith": "END"}}, {"the end"}),
        ({"name": {"icontains": "[*]"}}, {"[*]"}),
        ({"name": {"istartswith": "THE"}}, {"the end", "the end\n"}),
    ],
    ids=str,
)
async def test_text_operators_escape_and_anchor(
    open_provider: Opener, filter_: dict[str, Any], expected: set[str]
) -> None:
    provider, _ = await open_provider()
    repo = provider.of(Widget)
    names = ["a.b", "axb", "(x)", "the end", "the end\n", "[*]"]
    await repo.add_many([Widget(sku=f"T-{i}", name=n) for i, n in enumerate(names)])
    assert {w.name for w in await repo.find_all(filter_)} == expected


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "compensation"])
async def test_add_many_is_all_or_nothing_either_way(
    open_provider: Opener, transactions: bool
) -> None:
    provider, backend = await open_provider(transactions=transactions)
    assert await backend.supports_transactions() is transactions
    repo = provider.of(Widget)
    await repo.add(Widget(id="keep", sku="S-0"))
    batch = [Widget(id=f"n{i}", sku=f"S-{i + 1}") for i in range(5)]
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many([*batch, Widget(id="n9", sku="S-0")])
    assert info.value.field == "sku"
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many([*batch, Widget(id="keep", sku="S-99")])
    assert info.value.field == "id"
    assert [w.id for w in await repo.find_all()] == ["keep"]
    assert len(await repo.add_many(batch)) == 5


async def test_populated_view_page_issues_a_bounded_number_of_finds(
    open_provider: Opener,
) -> None:
    log = CommandLog()
    provider, _ = await open_provider(client_options={"event_listeners": [log]})
    team = await provider.of(Team).add(Team(name="core"))
    owners = await provider.of(Owner).add_many(
        [Owner(name=f"o{i}", email=f"o{i}@x.io", team_id=team.id) for i in range(10)]
    )
    labels = await provider.of(Label).add_many([Label(name=f"l{i}") for i in range(5)])
    widgets = await provider.of(Widget).add_many(
        [Widget(sku=f"V-{i}", quantity=i, owner_id=owners[i % 10].id) for i in range(60)]
    )
    await provider.of(WidgetLabel).add_many(
        [WidgetLabel(widget_id=w.id, label_id=labels[i % 5].id) for i, w in enumerate(widgets)]
    )
    view = provider.view("widget")
    finds = {}
    for limit in (1, 10, 50):
        log.names.clear()
        page = await view.find(
            Query(sort="quantity", limit=limit), include=["owner.team", "labels"]
        )
        assert len(page.items) == limit
        assert all(p.related["owner"] is not None for p in page.items)
        finds[limit] = log.count("find")
        assert log.count("getMore") == 0
    # widgets, owners, teams, widget_labels, labels: one find each, whatever the page size
    assert finds == {1: 5, 10: 5, 50: 5}


async def test_unreachable_server_is_backend_unavailable() -> None:
    dsn = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    backend = MongoBackend(dsn, "nowhere", timeout_ms=200)
    registry = build_registry("down")
    began = time.monotonic()
    await backend.start(list(registry), create_schema=False)  # the client connects lazily
    try:
        with pytest.raises(BackendUnavailable):
            await backend.ping()
        with pytest.raises(BackendUnavailable):
            await backend.repository(registry.get("widget")).get("x")
        with pytest.raises(BackendUnavailable):
            await backend.start(list(registry), create_schema=True)
    finally:
        await backend.close()
    assert time.monotonic() - began < 5
    with pytest.raises(BackendUnavailable):
        await backend.ping()  # closed: not started


# --- the compiled queries agree with the reference semantics (memory backend) ---------------


def _oracle_widgets() -> list[Widget]:
    base = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = [
        {"name": "alpha", "tags": ["red"], "weight": 1.5, "barcode": "B1", "price": "2.50"},
        {"name": "Beta", "tags": ["red", "blue"], "weight": None, "status": Status.DRAFT},
        {"name": "gamma", "tags": [], "weight": 0.0, "released_on": dt.date(2024, 1, 2)},
        {"name": "delta", "labels": {"x"}, "dims": Dimensions(3, 4, "mm"), "price": "10"},
        {"name": "epsilon", "attributes": {"color": "red", "sizes": [1, 2]}, "weight": 2.5},
        {"name": "zeta", "attributes": {"color": ["red"], "sizes": 2}, "status": Status.ARCHIVED},
        {"name": "eta", "ref": uuid.UUID(int=7), "released_on": dt.date(2023, 12, 31)},
        {"name": "theta", "dims": Dimensions(3, 1), "weight": 1.5, "price": "2.5"},
        {"name": "iota", "barcode": "B2", "active": False, "ref": uuid.UUID(int=3)},
        {"name": "kappa", "tags": ["blue"], "weight": -1.0, "status": Status.DRAFT},
    ]
    widgets = []
    for i, row in enumerate(rows):
        values = {**row, "price": Decimal(row.get("price", "1")), "quantity": i % 4}
        widgets.append(
            Widget(id=f"o{i:02d}", sku=f"O-{i}", created_at=base + dt.timedelta(hours=i), **values)
        )
    return widgets


ORACLE_FILTERS: list[dict[str, Any]] = [
    {"tags": "red"},
    {"tags": {"ne": "red"}},
    {"tags": {"contains": "blue"}},
    {"tags": {"eq": []}},
    {"labels": {"eq": ["x"]}},
    {"barcode": {"in": [None, "B1"]}},
    {"barcode": {"not_in": [None]}},
    {"barcode": {"ne": None}},
    {"released_on": {"gt": "2024-01-01"}},
    {"released_on": {"lte": "2024-01-02"}},
    {"ref": {"exists": True}},
    {"ref": {"gt": str(uuid.UUID(int=4))}},
    {"dims.unit": {"ne": "cm"}},
    {"dims.width": 3},
    {"status": {"istartswith": "AR"}},
    {"status": {"ne": "active"}},
    {"price": {"between": ["1", "3"]}},
    {"price": Decimal("2.5")},
    {"weight": {"lte": 0}},
    {"weight": {"not_in": [1.5, None]}},
    {"attributes.color": "red"},
    {"attributes.color": {"contains": "red"}},
    {"attributes.sizes": {"contains": 2}},
    {"attributes.sizes": 2},
    {"attributes.missing": None},
    {"or": [{"weight": None}, {"and": [{"quantity": 0}, {"active": True}]}]},
    {"name": {"iendswith": "TA"}, "quantity": {"ne": 1}},
]

ORACLE_SORTS = [
    None,
    "-released_on,name",
    "dims.width,-quantity",
    "-price",
    "status,-weight",
    "ref",
    "-active,-created_at",
]


@pytest.fixture
async def oracle(open_provider: Opener) -> tuple[Any, Any]:
    from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import (
        MemoryBackend,
    )

    provider, _ = await open_provider()
    memory_backend = MemoryBackend()
    memory = RepositoryProvider(provider.registry, {"memory": lambda: memory_backend}, "memory")
    await memory.start(create_schema=True)
    for target in (provider, memory):
        await target.of(Widget).add_many(_oracle_widgets())
    return memory.of(Widget), provider.of(Widget)


@pytest.mark.parametrize("filter_", ORACLE_FILTERS, ids=str)
async def test_filters_agree_with_the_reference(
    oracle: tuple[Any, Any], filter_: dict[str, Any]
) -> None:
    memory, mongo = oracle
    expected = [w.id for w in await memory.find_all(filter_)]
    assert [w.id for w in await mongo.find_all(filter_)] == expected
    assert await mongo.count(filter_) == len(expected)


@pytest.mark.parametrize("sort", ORACLE_SORTS, ids=str)
async def test_sorts_and_cursor_pages_agree_with_the_reference(
    oracle: tuple[Any, Any], sort: str | None
) -> None:
    memory, mongo = oracle
    expected = [w.id for w in await memory.find_all(sort=sort)]
    assert [w.id for w in await mongo.find_all(sort=sort)] == expected
    for limit in (1, 3):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await mongo.find(Query(sort=sort, limit=limit, cursor=cursor))
            seen.extend(w.id for w in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected
    offset_page = await mongo.find(Query(sort=sort, limit=4, offset=3))
    assert [w.id for w in offset_page.items] == expected[3:7]


# --- integrity: compound unique indexes, reference counters, errors ------------------------------


async def raw(provider: RepositoryProvider, backend: MongoBackend, entity: str, key: str) -> Any:
    return await backend.collection(provider.registry.get(entity)).find_one({"_id": key})


async def test_compound_unique_index_is_partial_and_named(open_integrity: Opener) -> None:
    provider, backend = await open_integrity()
    votes = await index_info(backend, provider.registry, "vote")
    index = votes["unique_member_id+task_id"]
    assert index["unique"] is True
    assert dict(index["key"]) == {"member_id": 1, "task_id": 1}
    assert set(index["partialFilterExpression"]) == {"member_id", "task_id"}
    collection = backend.collection(provider.registry.get("vote"))
    await collection.insert_many(  # a null part never collides
        [{"_id": "n1", "member_id": "m", "task_id": None}, {"_id": "n2", "member_id": "m"}]
    )
    project = await provider.of(Project).add(Project(name="P"))
    member = await provider.of(Member).add(Member(name="Ada"))
    task = await provider.of(Task).add(Task(project_id=project.id))
    await provider.of(Vote).add(Vote(member.id, task.id))
    with pytest.raises(AlreadyExists) as info:
        await provider.of(Vote).add(Vote(member.id, task.id))
    assert (info.value.field, info.value.value) == ("member_id+task_id", (member.id, task.id))


async def test_reference_counters_are_hidden_and_survive_every_write(
    open_integrity: Opener,
) -> None:
    provider, backend = await open_integrity()
    projects, tasks = provider.of(Project), provider.of(Task)
    project = await projects.add(Project(name="P", code="p1"))
    other = await projects.add(Project(name="Q", code="q1"))
    first, second = await tasks.add_many([Task(project_id=project.id) for _ in range(2)])
    assert (await raw(provider, backend, "project", project.id))["_refs"] == {"task:project_id": 2}
    # Writes to the target keep its counters; reads never show them.
    renamed = await projects.update_fields(project.id, {"name": "Renamed"})
    replaced = await projects.update(Project(name="Again", code="p1", id=project.id, version=2))
    upserted = await projects.upsert(Project(name="Up", code="p1", id=project.id))
    assert (renamed.version, replaced.version, upserted.version) == (2, 3, 4)
    assert await projects.get(project.id) == upserted
    assert await projects.distinct("name") == ["Q", "Up"]
    assert await projects.count({"name": {"ne": "x"}}) == 2
    assert (await raw(provider, backend, "project", project.id))["_refs"] == {"task:project_id": 2}
    with pytest.raises(StillReferenced) as info:
        await projects.delete(project.id)
    assert info.value.referenced_by == "task.project_id"
    # Moving and deleting children moves and lowers the counters.
    await tasks.update_fields(first.id, {"project_id": other.id})
    await tasks.upsert(Task(project_id=other.id, id=second.id))
    assert (await raw(provider, backend, "project", project.id))["_refs"] == {"task:project_id": 0}
    assert (await raw(provider, backend, "project", other.id))["_refs"] == {"task:project_id": 2}
    await tasks.delete(first.id)
    assert await tasks.delete_many([second.id, "missing"]) == 1
    assert (await raw(provider, backend, "project", other.id))["_refs"] == {"task:project_id": 0}
    await projects.delete_many([project.id, other.id])
    assert await projects.count() == 0


async def test_counters_can_be_recounted(open_integrity: Opener) -> None:
    provider, backend = await open_integrity()
    project = await provider.of(Project).add(Project(name="P"))
    legacy = await provider.of(Project).add(Project(name="Legacy"))
    task = await provider.of(Task).add(Task(project_id=project.id))
    projects = backend.collection(provider.registry.get("project"))
    await projects.update_one({"_id": project.id}, {"$set": {"_refs.task:project_id": 3}})
    await backend.collection(provider.registry.get("task")).insert_one(  # written before
        {"_id": "old", "project_id": legacy.id, "title": "t", "version": 1}
    )
    await backend.recount_references()
    assert (await raw(provider, backend, "project", project.id))["_refs"] == {"task:project_id": 1}
    with pytest.raises(StillReferenced):
        await provider.of(Project).delete(legacy.id)
    await provider.of(Task).delete_many([task.id, "old"])
    assert await provider.of(Project).delete_many([project.id, legacy.id]) == 2


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "standalone"])
async def test_on_delete_rules_with_and_without_transactions(
    open_integrity: Opener, transactions: bool
) -> None:
    provider, backend = await open_integrity(transactions=transactions)
    project = await provider.of(Project).add(Project(name="P"))
    ada, bob = await provider.of(Member).add_many([Member(name="Ada"), Member(name="Bob")])
    tasks = provider.of(Task)
    doomed = await tasks.add(Task(project_id=project.id, assignee_id=ada.id))
    kept = await tasks.add(Task(project_id=project.id, assignee_id=ada.id))
    await provider.of(Step).add_many([Step(task_id=doomed.id), Step(task_id=kept.id)])
    await provider.of(Vote).add_many([Vote(bob.id, doomed.id), Vote(bob.id, kept.id)])
    with pytest.raises(StillReferenced):
        await provider.of(Project).delete_many([project.id])
    assert await tasks.count() == 2

    await tasks.delete(doomed.id)  # cascades to one step and one vote
    assert await provider.of(Step).count() == 1
    assert [v.task_id for v in await provider.of(Vote).find_all()] == [kept.id]
    await provider.of(Member).delete(ada.id)  # set_null, without a version bump
    unassigned = await tasks.get_or_raise(kept.id)
    assert (unassigned.assignee_id, unassigned.version) == (None, 1)
    assert await provider.of(Member).delete_many([bob.id]) == 1  # cascades to its vote
    assert await provider.of(Vote).count() == 0
    with pytest.raises(ReferenceNotFound):
        await provider.of(Vote).add(Vote(bob.id, kept.id))
    marked = await backend.collection(provider.registry.get("task")).count_documents(
        {"_deleting": {"$exists": True}}
    )
    assert marked == 0, "no document stays marked as being deleted"


async def test_a_standalone_server_has_no_units_of_work(open_integrity: Opener) -> None:
    provider, _ = await open_integrity(transactions=False)
    with pytest.raises(TransactionsUnsupported) as info:
        async with provider.unit_of_work():
            pass
    assert info.value.message == (
        "mongo is unavailable: transactions need a replica set (even of one member)"
    )


async def test_units_of_work_do_not_nest(open_integrity: Opener) -> None:
    provider, _ = await open_integrity(transactions=True)
    async with provider.unit_of_work():
        with pytest.raises(RuntimeError):
            async with provider.unit_of_work():
                pass


@pytest.mark.concurrency
@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "standalone"])
async def test_children_racing_cascade_and_set_null_are_never_orphaned(
    open_integrity: Opener, transactions: bool
) -> None:
    provider, backend = await open_integrity(transactions=transactions)
    project = await provider.of(Project).add(Project(name="P"))
    tasks, steps, members = provider.of(Task), provider.of(Step), provider.of(Member)
    allowed = (ReferenceNotFound, StillReferenced)
    for round_number in range(4):
        member = await members.add(Member(name=f"M{round_number}"))
        task = await tasks.add(Task(project_id=project.id, assignee_id=member.id))
        moving = await steps.add(Step(task_id=(await tasks.add(Task(project_id=project.id))).id))

        async def delete_later(repo: Any, key: str) -> None:
            await asyncio.sleep(0)
            await repo.delete(key)

        results = await asyncio.gather(
            *(steps.add(Step(task_id=task.id, text=str(n))) for n in range(6)),
            *(tasks.add(Task(project_id=project.id, assignee_id=member.id)) for _ in range(4)),
            steps.update_fields(moving.id, {"task_id": task.id}),
            delete_later(tasks, task.id),
            delete_later(members, member.id),
            return_exceptions=True,
        )
        unexpected = [
            r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)
        ]
        assert not unexpected, unexpected
        if await tasks.get(task.id) is None:
            assert await steps.find_all({"task_id": task.id}) == [], f"round {round_number}"
        if await members.get(member.id) is None:
            assert await tasks.find_all({"assignee_id": member.id}) == [], f"round {round_number}"
    await _assert_counters_exact(provider, backend)


async def _assert_counters_exact(provider: RepositoryProvider, backend: MongoBackend) -> None:
    """Every counter equals the number of children pointing at its document."""
    registry = provider.registry
    for child_name, field_name, target_name in (
        ("task", "project_id", "project"),
        ("task", "assignee_id", "member"),
        ("step", "task_id", "task"),
        ("vote", "member_id", "member"),
        ("vote", "task_id", "task"),
    ):
        children = backend.collection(registry.get(child_name))
        targets = backend.collection(registry.get(target_name))
        async for target in targets.find({}):
            actual = await children.count_documents({field_name: target["_id"]})
            counted = target.get("_refs", {}).get(f"{child_name}:{field_name}", 0)
            assert counted == actual, (target_name, target["_id"], child_name, field_name)
        orphans = await children.count_documents(
            {field_name: {"$nin": [None, *[t["_id"] async for t in targets.find({})]]}}
        )
        assert orphans == 0, (child_name, field_name)


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "standalone"])
async def test_writes_take_a_bounded_number_of_round_trips(
    open_integrity: Opener, transactions: bool
) -> None:
    log = CommandLog()
    provider, _ = await open_integrity(
        transactions=transactions, client_options={"event_listeners": [log]}
    )
    projects, tasks = provider.of(Project), provider.of(Task)
    project = await projects.add(Project(name="P"))
    other = await projects.add(Project(name="Q"))
    commit = ["commitTransaction"] if transactions else []

    async def commands(call: Any) -> list[str]:
        log.names.clear()
        await call
        return list(log.names)

    assert await commands(projects.update_fields(project.id, {"name": "R"})) == [
        "find",
        "update",
    ]
    assert await commands(tasks.add(Task(project_id=project.id))) == [
        "update",  # count the task on its project
        "insert",
        *commit,
    ]
    task = (await tasks.find_all())[0]
    assert await commands(tasks.update_fields(task.id, {"title": "t"})) == ["find", "update"]
    assert await commands(tasks.update_fields(task.id, {"project_id": other.id})) == [
        "find",
        "update",  # count the task on its new project
        "update",  # the write, guarded by the version and references read
        "update",  # release the old project
        *commit,
    ]
    assert await commands(projects.delete(project.id)) == ["findAndModify"]
    expected_delete = [
        "findAndModify",  # mark the task (its restrict counters are zero)
        "find",  # its steps (cascade)
        "find",  # its votes (cascade)
        # the task, if no child still counts, then release its project
        *(["find", "delete", "update", *commit] if transactions else ["findAndModify", "update"]),
        *([] if transactions else ["update"]),  # clear marks left on survivors (none)
    ]
    assert await commands(tasks.delete(task.id)) == expected_delete


@pytest.mark.parametrize(
    "exc",
    [
        OperationFailure("bad $regex: missing ) at offset 3", code=51091),
        OperationFailure("not authorized on db to execute command", code=13),
        BulkWriteError({"writeErrors": [{"code": 121, "errmsg": "Document failed validation"}]}),
        ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"),
        InvalidDocument("cannot encode object: <object at 0x7f>"),
        OperationFailure(
            "Write conflict during transaction commit",
            code=112,
            details={"errorLabels": ["TransientTransactionError"]},
        ),
    ],
    ids=["query", "operation", "bulk", "unreachable", "bson", "transient"],
)
def test_error_messages_carry_no_driver_text(exc: Exception) -> None:
    error = translate(exc, "widget")
    assert error is not exc
    message = str(error)
    for leak in (str(exc).split(",")[0], type(exc).__name__, "Errno", "0x7f", "E11000"):
        assert leak not in message, message
