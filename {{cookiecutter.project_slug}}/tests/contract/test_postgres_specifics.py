"""What the shared contract cannot see on PostgreSQL: statement counts, the real column types,
all-or-nothing batches, and errors when the server is gone. Against a real server only."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, cast

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.postgres import (
    PostgresBackend,
    PostgresRepository,
)
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyConflict,
    ConditionFailed,
    InvalidInput,
    ReferenceNotFound,
    StillReferenced,
)
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Populated

from tests.support.backend_postgres import connect_raw, open_postgres, postgres_url
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
from tests.support.services import free_port

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class StatementLog:
    """Every statement the backend's connections run (asyncpg's query loggers)."""

    def __init__(self) -> None:
        self.everything: list[str] = []  # transaction control included
        self.connections: list[Any] = []

    def _record(self, connection: Any, query: Any) -> None:
        self.everything.append(str(query.query))
        self.connections.append(connection)

    @property
    def statements(self) -> list[str]:
        """What the repository asked for, without BEGIN, COMMIT, savepoints and rollbacks."""
        return [
            s for s in self.everything if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)
        ]

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith(prefix)]


@asynccontextmanager
async def statements(backend: PostgresBackend) -> AsyncIterator[StatementLog]:
    log = StatementLog()
    backend.add_query_logger(log._record)
    try:
        yield log
    finally:
        for _ in range(3):  # asyncpg calls its query loggers soon after, not at once
            await asyncio.sleep(0)
        backend.remove_query_logger(log._record)


@pytest.fixture
async def pg(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryProvider]:
    registry = build_registry(uuid.uuid4().hex[:10])
    async with open_postgres(request, registry) as backend:
        provider = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await provider.start(create_schema=True)
        try:
            yield provider
        finally:
            await provider.close()


@pytest.fixture
async def integrity_pg(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryProvider]:
    registry = build_integrity_registry(uuid.uuid4().hex[:10])
    async with open_postgres(request, registry) as backend:
        provider = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await provider.start(create_schema=True)
        try:
            yield provider
        finally:
            await provider.close()


def backend_of(provider: RepositoryProvider) -> PostgresBackend:
    backend = provider.backend("postgres")
    assert isinstance(backend, PostgresBackend)
    return backend


def widget_repo(provider: RepositoryProvider) -> PostgresRepository[Widget]:
    repo = provider.repo("widget")
    assert isinstance(repo, PostgresRepository)
    return cast(PostgresRepository[Widget], repo)


def widget(n: int, **overrides: Any) -> Widget:
    values: dict[str, Any] = {"id": f"w{n:04d}", "sku": f"SKU-{n:04d}", "quantity": n}
    values.update(overrides)
    return Widget(**values)


# --- populated views: bounded statements ---------------------------------------------------------


async def test_view_page_of_5_and_of_50_issue_the_same_statements(pg: RepositoryProvider) -> None:
    teams = await pg.of(Team).add_many([Team(name=f"team {i}") for i in range(3)])
    owners = await pg.of(Owner).add_many(
        [Owner(name=f"owner {i}", email=f"o{i}@x.io", team_id=teams[i % 3].id) for i in range(12)]
    )
    labels = await pg.of(Label).add_many([Label(name=f"label {i}") for i in range(4)])
    items = await pg.of(Widget).add_many([widget(i, owner_id=owners[i % 12].id) for i in range(60)])
    await pg.of(WidgetLabel).add_many(
        [
            WidgetLabel(widget_id=w.id, label_id=labels[(i + k) % 4].id)
            for i, w in enumerate(items)
            for k in range(2)
        ]
    )
    view = pg.view("widget")
    counts: dict[int, int] = {}
    for limit in (5, 50):
        async with statements(backend_of(pg)) as log:
            page = await view.find(Query(limit=limit), include=["owner.team", "labels"])
        assert len(page.items) == limit
        for item in page.items:
            owner = item.related["owner"]
            assert isinstance(owner, Populated)
            assert owner.related["team"] is not None
            assert len(cast(list[Any], item.related["labels"])) == 2
        counts[limit] = len(log.statements)
    # widgets, owners, teams, join rows, labels: one SELECT each, whatever the page size
    assert counts == {5: 5, 50: 5}


async def test_get_many_is_one_statement(pg: RepositoryProvider) -> None:
    stored = await pg.of(Widget).add_many([widget(i) for i in range(20)])
    async with statements(backend_of(pg)) as log:
        found = await pg.of(Widget).get_many([w.id for w in reversed(stored)] + ["missing"])
    assert [w.id for w in found] == [w.id for w in reversed(stored)]
    assert len(log.statements) == 1


# --- writes: one statement, atomic batches ----------------------------------------------------


async def test_add_many_is_one_copy_whatever_its_size(pg: RepositoryProvider) -> None:
    repo = widget_repo(pg)
    small = [widget(i, tags=["a", "b"], attributes={"n": i}) for i in range(3)]
    # about 1.3 MB of COPY data: asyncpg sends it in several messages
    large = [widget(i, name="n" * 500) for i in range(100, 2_600)]
    for batch in (small, large):
        async with statements(backend_of(pg)) as log:
            stored = await repo.add_many(batch)
        [statement] = log.statements
        assert statement.startswith("COPY ")
        assert "FROM STDIN" in statement
        assert await repo.get_many([w.id for w in stored]) == stored
    assert await repo.count() == len(small) + len(large)


async def test_a_refused_row_late_in_a_large_batch_leaves_nothing_written(
    pg: RepositoryProvider,
) -> None:
    repo = widget_repo(pg)
    batch = [widget(i, name="n" * 500) for i in range(2_500)]  # sent in several messages
    batch[-1] = widget(9_999, sku="SKU-0000")  # collides with the first row, 2,499 rows later
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many(batch)
    assert (info.value.field, info.value.value) == ("sku", "SKU-0000")
    assert await repo.count() == 0


async def test_a_duplicate_inside_one_batch_leaves_nothing_written(pg: RepositoryProvider) -> None:
    repo = pg.of(Widget)
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many([widget(1), widget(2), widget(3, sku="SKU-0001")])
    assert (info.value.field, info.value.value) == ("sku", "SKU-0001")
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many([widget(1), widget(1, sku="other")])
    assert info.value.field == "id"
    assert await repo.count() == 0


async def test_update_fields_without_a_version_locks_the_row_then_writes_it_once(
    pg: RepositoryProvider,
) -> None:
    repo = pg.of(Widget)
    stored = await repo.add(widget(1, tags=["x"]))
    async with statements(backend_of(pg)) as log:
        await repo.update_fields(stored.id, {"name": "n"}, conditions={"tags": {"contains": "x"}})
    assert [s.split()[0].upper() for s in log.statements] == ["SELECT", "UPDATE"]
    assert "FOR UPDATE" in log.statements[0]
    assert log.everything[0].upper().startswith("BEGIN")
    # a refusal is known from the locked read: nothing is written
    async with statements(backend_of(pg)) as log:
        with pytest.raises(ConditionFailed):
            await repo.update_fields(stored.id, {"name": "m"}, conditions={"quantity": {"gt": 5}})
    assert [s.split()[0].upper() for s in log.statements] == ["SELECT"]
    assert (await repo.get_or_raise(stored.id)).version == 2


async def test_update_fields_with_an_expected_version_is_a_compare_and_set(
    pg: RepositoryProvider,
) -> None:
    """Two statements in autocommit and no lock held: a caller with a stale version is refused
    while another transaction holds the row, instead of queueing for it with a connection."""
    repo = pg.of(Widget)
    stored = await repo.add(widget(1, tags=["x"]))
    async with statements(backend_of(pg)) as log:
        stored = await repo.update_fields(
            stored.id, {"name": "n"}, expected_version=1, conditions={"tags": {"contains": "x"}}
        )
    assert log.everything == log.statements  # no BEGIN/COMMIT
    assert [s.split()[0].upper() for s in log.statements] == ["SELECT", "UPDATE"]
    assert "FOR UPDATE" not in log.statements[0]

    table = pg.registry.get("widget").collection
    holder, observer = await connect_raw(), await connect_raw()
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(f'SELECT * FROM "{table}" WHERE id = $1 FOR UPDATE', stored.id)
        with pytest.raises(ConcurrencyConflict):  # returns while the row is still locked
            await repo.update_fields(stored.id, {"name": "m"}, expected_version=1)
        # The version read is current, but the holder changes the row before committing: the
        # guarded UPDATE waits for it, then finds another version and writes nothing.
        await holder.execute(
            f'UPDATE "{table}" SET version = version + 1, name = $2 WHERE id = $1',
            stored.id,
            "theirs",
        )
        racing = asyncio.ensure_future(
            repo.update_fields(stored.id, {"name": "mine"}, expected_version=2)
        )
        await wait_for_a_lock_wait(observer, table, racing)
        await transaction.commit()
        with pytest.raises(ConcurrencyConflict):
            await racing
    finally:
        await holder.close()
        await observer.close()
    current = await repo.get_or_raise(stored.id)
    assert (current.name, current.version) == ("theirs", 3)


async def wait_for_a_lock_wait(observer: Any, table: str, task: asyncio.Future[Any]) -> None:
    """Until ``task``'s UPDATE of ``table`` waits on a row lock: polled, with a deadline only
    for a stuck server. ``observer`` must be outside a transaction: inside one, the activity
    view is a snapshot taken at its first read, which may come before the wait."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'UPDATE%' AND position($1 in query) > 0"
    )
    async with asyncio.timeout(120):
        while not await observer.fetchval(query, table):
            assert not task.done(), task
            await asyncio.sleep(0.01)


async def test_guarded_update_is_one_statement_and_reads_only_to_explain_a_refusal(
    pg: RepositoryProvider,
) -> None:
    repo = pg.of(Widget)
    stored = await repo.add(widget(1, tags=["x"]))
    async with statements(backend_of(pg)) as log:
        stored = await repo.update(stored, conditions={"tags": {"contains": "x"}})
    assert [s.split()[0].upper() for s in log.statements] == ["UPDATE"]
    async with statements(backend_of(pg)) as log:
        with pytest.raises(ConditionFailed):
            await repo.update(stored, conditions={"quantity": {"gt": 5}})
    assert [s.split()[0].upper() for s in log.statements] == ["UPDATE", "SELECT"]


async def test_upsert_is_one_statement(pg: RepositoryProvider) -> None:
    repo = pg.of(Widget)
    async with statements(backend_of(pg)) as log:
        first = await repo.upsert(widget(1))
        second = await repo.upsert(widget(1, name="again"))
    assert (first.version, second.version, second.name) == (1, 2, "again")
    assert len(log.statements) == 2
    assert all("ON CONFLICT" in s for s in log.statements)


async def test_an_expired_rows_id_can_be_reused(pg: RepositoryProvider) -> None:
    repo = pg.of(Session)
    now = int(time.time())
    await repo.add(Session(id="s1", user="old", expires_at=now - 5))
    fresh = await repo.add(Session(id="s1", user="new", expires_at=now + 60))
    assert (await repo.get_or_raise("s1")) == fresh
    assert await repo.count() == 1


# --- agreement with the reference semantics on JSON paths --------------------------------------

FREE_FORM: list[dict[str, Any]] = [
    {},
    {"color": "red", "n": 3, "sizes": [1, 2], "flag": True},
    {"color": "Blue", "n": 1.5, "sizes": ["a"], "flag": False},
    {"color": None, "n": "7", "sizes": "12"},
    {"color": "reddish", "n": 10, "nested": {"k": "v"}},
]
JSON_FILTERS: list[dict[str, Any]] = [
    {"attributes.color": "red"},
    {"attributes.color": None},
    {"attributes.color": {"ne": "red"}},
    {"attributes.color": {"in": ["red", "Blue"]}},
    {"attributes.color": {"not_in": ["red", None]}},
    {"attributes.n": {"gt": 2}},
    {"attributes.n": {"between": [1, 5]}},
    {"attributes.n": {"gt": "5"}},
    {"attributes.n": 1.5},
    {"attributes.sizes": {"contains": 1}},
    {"attributes.sizes": {"contains": "1"}},
    {"attributes.color": {"icontains": "RED"}},
    {"attributes.color": {"iendswith": "UE"}},
    {"attributes.flag": True},
    {"attributes.flag": {"exists": True}},
    {"attributes.nested.k": "v"},
    {"dims.width": {"lt": 3}},
    {"dims.unit": "cm"},
    {"labels": {"contains": "x"}},
    {"labels": {"eq": ["x", "y"]}},
    {"tags": {"ne": ["a", "b"]}},
    {"tags": {"in": ["a"]}},
    {"dims": {"eq": {"width": 1.0, "height": 2.0, "unit": "cm"}}},
    {"status": {"icontains": "ACT"}},
]


async def test_json_paths_agree_with_the_memory_reference(pg: RepositoryProvider) -> None:
    reference = RepositoryProvider(pg.registry, {"memory": MemoryBackend}, "memory")
    await reference.start(create_schema=True)
    rows = [
        Widget(
            id=f"w{i}",
            sku=f"s{i}",
            attributes=attributes,
            tags=["a", "b"] if i % 2 else [],
            labels={"x", "y"} if i % 2 else {"x"},
            dims=Dimensions(i, 2.0) if i % 3 else None,
            status=list(Status)[i % 3],
        )
        for i, attributes in enumerate(FREE_FORM)
    ]
    await pg.of(Widget).add_many(rows)
    await reference.of(Widget).add_many(rows)
    disagreements = []
    for filter_ in JSON_FILTERS:
        expected = sorted(w.id for w in await reference.of(Widget).find_all(filter_))
        found = sorted(w.id for w in await pg.of(Widget).find_all(filter_))
        if found != expected:
            disagreements.append((filter_, expected, found))
    assert disagreements == []
    order = Query(sort="-dims.width,status")
    assert [w.id for w in (await pg.of(Widget).find(order)).items] == [
        w.id for w in (await reference.of(Widget).find(order)).items
    ]
    assert await pg.of(Widget).distinct("dims.width") == [1.0, 2.0, 4.0]


# --- schema ---------------------------------------------------------------------------------------


async def test_fields_are_typed_columns_with_real_indexes(pg: RepositoryProvider) -> None:
    table = pg.registry.get("widget").collection
    conn = await connect_raw()
    try:
        rows = await conn.fetch(
            "SELECT column_name, data_type, is_nullable, collation_name"
            " FROM information_schema.columns WHERE table_name = $1",
            table,
        )
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch("SELECT * FROM pg_indexes WHERE tablename = $1", table)
        }
    finally:
        await conn.close()
    columns = {r["column_name"]: (r["data_type"], r["is_nullable"] == "YES") for r in rows}
    assert columns == {
        "id": ("text", False),
        "sku": ("text", False),
        "name": ("text", False),
        "barcode": ("text", True),
        "price": ("numeric", False),
        "quantity": ("bigint", False),
        "weight": ("double precision", True),
        "active": ("boolean", False),
        "status": ("text", False),
        "tags": ("jsonb", False),
        "labels": ("jsonb", False),
        "created_at": ("timestamp with time zone", False),
        "released_on": ("date", True),
        "ref": ("uuid", True),
        "dims": ("jsonb", True),
        "attributes": ("jsonb", False),
        "owner_id": ("text", True),
        "version": ("bigint", False),
    }
    assert {r["column_name"] for r in rows if r["collation_name"] == "C"} >= {"sku", "status"}
    assert "UNIQUE" in indexes[f"uq_{table}_sku"]
    assert "UNIQUE" in indexes[f"uq_{table}_barcode"]
    assert "UNIQUE" not in indexes[f"ix_{table}_owner_id"]
    assert f"ix_{table}_status" in indexes
    assert f"pk_{table}" in indexes


async def test_values_are_stored_natively(pg: RepositoryProvider) -> None:
    stored = await pg.of(Widget).add(widget(1, price=Decimal("12.30"), tags=["a", "b"]))
    table = pg.registry.get("widget").collection
    conn = await connect_raw()
    try:
        row = await conn.fetchrow(
            f"SELECT price, tags, created_at, jsonb_typeof(tags) AS t FROM {table} WHERE id = $1",
            stored.id,
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["price"] == Decimal("12.30")
    assert row["t"] == "array"
    assert row["created_at"] == stored.created_at


async def test_case_insensitive_operators_fold_beyond_ascii(pg: RepositoryProvider) -> None:
    conn = await connect_raw()
    try:
        ctype = await conn.fetchval("SHOW lc_ctype")
    finally:
        await conn.close()
    if str(ctype).upper() in ("C", "POSIX"):
        pytest.skip(f"the database's LC_CTYPE is {ctype}: ILIKE folds ASCII only there")
    repo = pg.of(Widget)
    await repo.add(widget(1, name="Été à Paris"))
    assert await repo.count({"name": {"icontains": "ÉTÉ"}}) == 1
    assert await repo.count({"name": {"istartswith": "été"}}) == 1


async def test_like_wildcards_in_operands_are_literal(pg: RepositoryProvider) -> None:
    repo = pg.of(Widget)
    await repo.add_many([widget(1, name="100% cotton"), widget(2, name="1000 cotton")])
    assert await repo.count({"name": {"contains": "100%"}}) == 1
    assert await repo.count({"name": {"begins_with": "1_0"}}) == 0
    assert await repo.count({"name": {"iendswith": "% COTTON"}}) == 1


# --- integrity: foreign keys, compound unique indexes, units of work ----------------------------


async def test_references_are_foreign_keys_with_their_declared_rule(
    integrity_pg: RepositoryProvider,
) -> None:
    registry = integrity_pg.registry
    conn = await connect_raw()
    try:
        rows = await conn.fetch(
            "SELECT conname, conrelid::regclass::text AS child, confrelid::regclass::text AS"
            " target, confdeltype::text AS confdeltype FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid::regclass::text = ANY($1::text[])",
            [spec.collection for spec in registry],
        )
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch(
                "SELECT * FROM pg_indexes WHERE tablename = $1", registry.get("vote").collection
            )
        }
    finally:
        await conn.close()
    found = {(r["child"], r["target"], r["confdeltype"]): r["conname"] for r in rows}
    table = {name: registry.get(name).collection for name in ("project", "member", "task")}
    tasks, steps, votes = (registry.get(n).collection for n in ("task", "step", "vote"))
    # r: RESTRICT (checked at once, unlike NO ACTION), c: CASCADE, n: SET NULL
    assert found == {
        (tasks, table["project"], "r"): f"fk_{tasks}_project_id",
        (tasks, table["member"], "n"): f"fk_{tasks}_assignee_id",
        (steps, table["task"], "c"): f"fk_{steps}_task_id",
        (votes, table["member"], "c"): f"fk_{votes}_member_id",
        (votes, table["task"], "c"): f"fk_{votes}_task_id",
    }
    compound = indexes[f"uq_{votes}_member_id_task_id"]
    assert "UNIQUE" in compound
    assert "(member_id, task_id)" in compound


async def test_integrity_errors_name_what_was_refused(integrity_pg: RepositoryProvider) -> None:
    projects, tasks, votes = integrity_pg.of(Project), integrity_pg.of(Task), integrity_pg.of(Vote)
    with pytest.raises(ReferenceNotFound) as missing:
        await tasks.add_many([Task(project_id="nowhere")])
    assert (missing.value.entity, missing.value.field) == ("task", "project_id")
    assert (missing.value.value, missing.value.target) == ("nowhere", "project")

    project = await projects.add(Project(name="P"))
    task = await tasks.add(Task(project_id=project.id))
    with pytest.raises(StillReferenced) as referenced:
        await projects.delete(project.id)
    assert (referenced.value.entity, referenced.value.key) == ("project", project.id)
    assert referenced.value.referenced_by == "task.project_id"

    member = await integrity_pg.of(Member).add(Member(name="Ada"))
    await votes.add(Vote(member.id, task.id))
    with pytest.raises(AlreadyExists) as clash:
        await votes.add(Vote(member.id, task.id))
    assert (clash.value.field, clash.value.value) == ("member_id+task_id", (member.id, task.id))


async def test_set_null_keeps_the_childs_version(integrity_pg: RepositoryProvider) -> None:
    project = await integrity_pg.of(Project).add(Project(name="P"))
    member = await integrity_pg.of(Member).add(Member(name="Ada"))
    task = await integrity_pg.of(Task).add(Task(project_id=project.id, assignee_id=member.id))
    await integrity_pg.of(Member).delete(member.id)
    after = await integrity_pg.of(Task).get_or_raise(task.id)
    assert (after.assignee_id, after.version) == (None, task.version)


async def test_a_unit_of_work_is_one_transaction_on_one_connection(
    integrity_pg: RepositoryProvider,
) -> None:
    async with statements(backend_of(integrity_pg)) as log, integrity_pg.unit_of_work() as uow:
        project = await uow.of(Project).add(Project(name="P"))
        assert await uow.of(Project).get(project.id) == project  # reads see the unit
        # tasks started inside the unit write into it, one statement at a time
        await asyncio.gather(
            *(uow.of(Task).add(Task(project_id=project.id, title=f"t{n}")) for n in range(5))
        )
        await uow.of(Project).update_fields(project.id, {"name": "Q"})
    assert log.everything[0] == "BEGIN"
    assert log.everything[-1] == "COMMIT"
    seen = log.connections
    assert len({id(c) for c in seen}) == 1
    assert await integrity_pg.of(Task).count({"project_id": project.id}) == 5


async def test_a_refused_write_inside_a_unit_leaves_the_unit_usable(
    integrity_pg: RepositoryProvider,
) -> None:
    projects = integrity_pg.of(Project)
    taken = await projects.add(Project(name="Taken", code="t"))
    async with integrity_pg.unit_of_work() as uow:
        with pytest.raises(AlreadyExists):
            await uow.of(Project).add(Project(name="Clash", code="T"))
        with pytest.raises(ReferenceNotFound):
            await uow.of(Task).add(Task(project_id="missing"))
        with pytest.raises(InvalidInput):
            await uow.of(Project).update_fields(taken.id, {"name": " "})
        # a batch is one COPY: refused whole, and the unit goes on
        with pytest.raises(AlreadyExists):
            await uow.of(Project).add_many([Project("New", code="n"), Project("Clash", code="T")])
        with pytest.raises(ReferenceNotFound):
            await uow.of(Task).add_many([Task(project_id=taken.id), Task(project_id="missing")])
        members = await uow.of(Member).add_many([Member(name="Ada"), Member(name="Bob")])
        await uow.of(Project).update_fields(taken.id, {"name": "Kept"})

        async def inner_unit() -> None:
            async with integrity_pg.unit_of_work() as inner:  # a unit in a unit: a savepoint
                await inner.of(Member).add(Member(name="undone"))
                await inner.of(Step).add(Step(task_id="missing"))

        with pytest.raises(ReferenceNotFound):
            await inner_unit()
    assert (await projects.get_or_raise(taken.id)).name == "Kept"
    assert await projects.count() == 1
    assert await integrity_pg.of(Task).count() == 0
    stored_members = await integrity_pg.of(Member).find_all()
    assert sorted(stored_members, key=str) == sorted(members, key=str)  # not the inner unit's


async def test_a_failing_unit_propagates_the_original_error(
    integrity_pg: RepositoryProvider,
) -> None:
    project = await integrity_pg.of(Project).add(Project(name="P"))

    class Boom(Exception):
        pass

    async def refused() -> None:
        async with integrity_pg.unit_of_work() as uow:
            await uow.of(Task).add(Task(project_id=project.id))
            await uow.of(Project).delete(project.id)  # the task just added still points at it

    async def failing() -> None:
        async with integrity_pg.unit_of_work() as uow:
            await uow.of(Member).add(Member(name="Ada"))
            raise Boom

    with pytest.raises(StillReferenced):
        await refused()
    with pytest.raises(Boom):
        await failing()
    assert await integrity_pg.of(Task).count() == 0
    assert await integrity_pg.of(Member).count() == 0


# --- outages --------------------------------------------------------------------------------------


async def test_backend_unavailable_on_a_closed_port() -> None:
    url = postgres_url()
    host_part = url.split("@", 1)[1].split("/", 1)
    closed = url.replace(host_part[0], f"127.0.0.1:{free_port()}", 1)
    registry = build_registry(uuid.uuid4().hex[:10])
    backend = PostgresBackend(
        closed, pool_size=1, max_overflow=0, pool_timeout=1.0, statement_timeout_ms=1000
    )
    started = time.perf_counter()
    refusals: list[BackendUnavailable] = []
    try:
        await backend.start(list(registry), create_schema=False)
        with pytest.raises(BackendUnavailable) as info:
            await backend.ping()
        refusals.append(info.value)
        repo = backend.repository(registry.get("widget"))
        with pytest.raises(BackendUnavailable) as info:
            await repo.get("anything")
        refusals.append(info.value)
        with pytest.raises(BackendUnavailable) as info:
            await repo.add(widget(1))
        refusals.append(info.value)
        with pytest.raises(BackendUnavailable) as info:
            async with backend.transaction():
                pass
        refusals.append(info.value)
        with pytest.raises(BackendUnavailable) as info:
            await backend.start(list(registry), create_schema=True)
        refusals.append(info.value)
    finally:
        await backend.close()
    assert time.perf_counter() - started < 5
    # plain words for the caller; the driver's class names and text only go to the log
    for refusal in refusals:
        assert refusal.message == "postgres is unavailable: cannot connect to the database"


async def test_driver_text_is_logged_never_returned(
    pg: RepositoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    repo = widget_repo(pg)
    # A value the driver cannot encode (an int where a JSON column expects structure is fine,
    # a str in a BIGINT column is not): the port would refuse it, so write straight through.
    insert = repo._q.insert
    values = {**dict.fromkeys(repo._q.columns), "id": "x", "quantity": "many"}

    async def work(conn: Any) -> None:
        await conn.execute(insert.sql, *insert.args([values[c] for c in repo._q.columns]))

    with caplog.at_level(logging.WARNING), pytest.raises(InvalidInput) as info:
        await repo._db.run(work)
    assert info.value.message == "widget: a value cannot be stored in its column"
    assert "many" in caplog.text or "str" in caplog.text  # the detail is in the log


# --- outages ---


async def test_repositories_refuse_to_work_before_start() -> None:
    registry = build_registry(uuid.uuid4().hex[:10])
    backend = PostgresBackend(postgres_url())
    with pytest.raises(BackendUnavailable):
        await backend.repository(registry.get("widget")).get("x")
