"""Integrity, on every backend: writes go through the entity's constructor, enforced
references never dangle, compound unique constraints hold under races, units of work commit
all or nothing, and cursors only page the query that issued them."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidCursor,
    InvalidInput,
    InvalidQuery,
    ReferenceNotFound,
    StillReferenced,
)
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.entities import Member, Project, Step, Task, Vote, Widget

# --- every write goes through the domain ---------------------------------------------------


async def test_add_stores_what_the_constructor_gives(integrity: RepositoryProvider) -> None:
    repo = integrity.of(Project)
    stored = await repo.add(Project(name="  Apollo ", code="ap-11"))
    assert (stored.name, stored.code) == ("Apollo", "AP11")
    assert await repo.get_or_raise(stored.id) == stored


async def test_a_mutated_entity_is_validated_again(integrity: RepositoryProvider) -> None:
    repo = integrity.of(Project)
    project = Project(name="Apollo", code="a1")
    project.name = "   "  # a dataclass can be mutated after its constructor ran
    with pytest.raises(InvalidInput):
        await repo.add(project)
    assert await repo.count() == 0
    stored = await repo.add(Project(name="Apollo", code="a1"))
    stored.name = ""
    with pytest.raises(InvalidInput):
        await repo.update(stored)
    with pytest.raises(InvalidInput):
        await repo.upsert(stored)
    assert await repo.get_or_raise(stored.id) == Project(
        name="Apollo", code="A1", id=stored.id, version=1
    )


async def test_update_fields_rejected_by_the_domain_changes_nothing(
    integrity: RepositoryProvider,
) -> None:
    repo = integrity.of(Project)
    stored = await repo.add(Project(name="Apollo", code="a1"))
    for changes in ({"name": "   "}, {"name": 42}, {"name": None}, {"code": ["x"]}):
        with pytest.raises(InvalidInput):
            await repo.update_fields(stored.id, changes, expected_version=1)
    assert await repo.get_or_raise(stored.id) == stored  # same values, same version


async def test_update_fields_normalises_then_checks_uniqueness(
    integrity: RepositoryProvider,
) -> None:
    repo = integrity.of(Project)
    first = await repo.add(Project(name="One", code="AB-1"))
    second = await repo.add(Project(name="Two", code="CD-2"))
    renamed = await repo.update_fields(second.id, {"name": " Deux ", "code": "cd-3"})
    assert (renamed.name, renamed.code, renamed.version) == ("Deux", "CD3", 2)
    with pytest.raises(AlreadyExists) as info:
        await repo.update_fields(second.id, {"code": " ab-1 "})  # the same code once normalised
    assert info.value.field == "code"
    assert await repo.get_or_raise(second.id) == renamed
    assert await repo.count({"code": "AB1"}) == 1
    assert (await repo.get_or_raise(first.id)).code == "AB1"


async def test_upsert_and_add_many_go_through_the_domain(integrity: RepositoryProvider) -> None:
    repo = integrity.of(Project)
    upserted = await repo.upsert(Project(name=" Up ", code="u-1"))
    assert (upserted.name, upserted.code) == ("Up", "U1")
    bad = Project(name="ok", code="b1")
    bad.name = " "
    with pytest.raises(InvalidInput):
        await repo.add_many([Project(name="fine", code="f1"), bad])
    assert await repo.count() == 1
    many = await repo.add_many([Project(name=" A ", code="x-1"), Project(name="B", code="y-2")])
    assert [(p.name, p.code) for p in many] == [("A", "X1"), ("B", "Y2")]
    assert [p.code for p in await repo.find_all(sort="code")] == ["U1", "X1", "Y2"]


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, 10**30],
    ids=["int64-max-plus-one", "int64-min-minus-one", "huge"],
)
async def test_values_no_backend_holds_alike_are_refused(
    integrity: RepositoryProvider, value: int
) -> None:
    repo = integrity.of(Widget)
    with pytest.raises(InvalidInput):
        await repo.add(Widget(sku="big", quantity=value))
    with pytest.raises(InvalidInput):
        await repo.add(Widget(sku="attr", attributes={"n": value}))
    with pytest.raises(InvalidQuery):
        await repo.find(Query(filter={"quantity": {"gt": value}}))
    assert await repo.count() == 0


async def test_decimals_past_34_significant_digits_are_refused(
    integrity: RepositoryProvider,
) -> None:
    # MongoDB's Decimal128 holds 34 digits: a longer value would be rounded there and kept
    # exactly elsewhere. Trailing zeros do not count; 34 digits are kept exactly everywhere.
    repo = integrity.of(Widget)
    longest = Decimal("1234567890123456789012345678901234")
    for digits in (Decimal("12345678901234567890123456789012345"), Decimal(f"{longest}1e-40")):
        with pytest.raises(InvalidInput):
            await repo.add(Widget(sku="long", price=digits))
        with pytest.raises(InvalidQuery):
            await repo.find(Query(filter={"price": {"gt": str(digits)}}))
    stored = await repo.add(Widget(sku="kept", price=longest * 1000))
    assert (await repo.get_or_raise(stored.id)).price == longest * 1000
    assert await repo.count() == 1


async def test_nul_text_and_out_of_range_dates_are_refused(integrity: RepositoryProvider) -> None:
    repo = integrity.of(Widget)
    with pytest.raises(InvalidInput):
        await repo.add(Widget(sku="nul\x00"))
    stored = await repo.add(Widget(sku="ok"))
    with pytest.raises(InvalidInput):
        await repo.update_fields(stored.id, {"name": "a\x00b"})
    with pytest.raises(InvalidQuery):
        await repo.find(Query(filter={"name": {"contains": "\x00"}}))
    with pytest.raises(InvalidQuery):
        await repo.find(Query(filter={"created_at": {"lt": "9999-12-31T23:00:00-05:00"}}))
    with pytest.raises(InvalidQuery):
        await repo.find(Query(filter={"weight": {"gt": float("inf")}}))
    assert await repo.get_or_raise(stored.id) == stored


# --- referential integrity -----------------------------------------------------------------


async def test_a_child_cannot_point_at_a_missing_target(integrity: RepositoryProvider) -> None:
    tasks = integrity.of(Task)
    with pytest.raises(ReferenceNotFound) as info:
        await tasks.add(Task(project_id="missing"))
    assert (info.value.field, info.value.target) == ("project_id", "project")
    with pytest.raises(ReferenceNotFound):
        await tasks.add_many([Task(project_id="missing")])
    assert await tasks.count() == 0

    project = await integrity.of(Project).add(Project(name="P"))
    task = await tasks.add(Task(project_id=project.id))  # a null optional reference is fine
    writes: list[Awaitable[Task]] = [
        tasks.update_fields(task.id, {"project_id": "missing"}),
        tasks.update_fields(task.id, {"assignee_id": "nobody"}),
        tasks.update(Task(project_id="missing", id=task.id, version=1)),
        tasks.upsert(Task(project_id="missing", id=task.id)),
    ]
    for write in writes:
        with pytest.raises(ReferenceNotFound):
            await write
    assert await tasks.get_or_raise(task.id) == task


async def test_restrict_refuses_to_delete_a_referenced_target(
    integrity: RepositoryProvider,
) -> None:
    projects, tasks = integrity.of(Project), integrity.of(Task)
    project = await projects.add(Project(name="P"))
    task = await tasks.add(Task(project_id=project.id))
    with pytest.raises(StillReferenced) as info:
        await projects.delete(project.id)
    assert (info.value.entity, info.value.key) == ("project", project.id)
    assert info.value.referenced_by == "task.project_id"
    with pytest.raises(StillReferenced):
        await projects.delete_many([project.id])
    assert await projects.get(project.id) == project
    other = await projects.add(Project(name="Q"))
    moved = await tasks.update_fields(task.id, {"project_id": other.id})
    assert moved.project_id == other.id
    await projects.delete(project.id)  # no longer referenced
    assert await projects.get(project.id) is None


async def test_cascade_and_set_null(integrity: RepositoryProvider) -> None:
    project = await integrity.of(Project).add(Project(name="P"))
    ada, bob = await integrity.of(Member).add_many([Member(name="Ada"), Member(name="Bob")])
    tasks = integrity.of(Task)
    first = await tasks.add(Task(project_id=project.id, assignee_id=ada.id))
    second = await tasks.add(Task(project_id=project.id, assignee_id=ada.id))
    steps = integrity.of(Step)
    await steps.add_many([Step(task_id=first.id), Step(task_id=first.id)])
    kept = await steps.add(Step(task_id=second.id))
    votes = integrity.of(Vote)
    await votes.add_many([Vote(ada.id, first.id), Vote(bob.id, first.id), Vote(bob.id, second.id)])

    await tasks.delete(first.id)  # cascades to its steps and votes
    assert [s.id for s in await steps.find_all()] == [kept.id]
    assert [(v.member_id, v.task_id) for v in await votes.find_all()] == [(bob.id, second.id)]

    await integrity.of(Member).delete(ada.id)  # set_null on tasks, cascade on votes
    assert (await tasks.get_or_raise(second.id)).assignee_id is None
    await integrity.of(Member).delete(bob.id)
    assert await votes.count() == 0
    assert await tasks.count() == 1


@pytest.mark.concurrency
async def test_no_orphans_when_children_race_the_delete_of_their_target(
    integrity: RepositoryProvider,
) -> None:
    projects, tasks = integrity.of(Project), integrity.of(Task)
    for round_number in range(5):
        project = await projects.add(Project(name=f"P{round_number}"))

        async def add_task(n: int, project_id: str = project.id) -> Any:
            return await tasks.add(Task(project_id=project_id, title=f"t{n}"))

        async def delete_project(project_id: str = project.id) -> Any:
            await asyncio.sleep(0)
            return await projects.delete(project_id)

        results = await asyncio.gather(
            *(add_task(n) for n in range(10)), delete_project(), return_exceptions=True
        )
        unexpected = [
            r
            for r in results
            if isinstance(r, BaseException)
            and not isinstance(r, ReferenceNotFound | StillReferenced)
        ]
        assert not unexpected, unexpected
        stored = await tasks.find_all({"project_id": project.id})
        if await projects.get(project.id) is None:
            assert stored == [], f"round {round_number}: orphans {stored}"
        else:
            assert isinstance(results[-1], StillReferenced)
            await tasks.delete_many([t.id for t in stored])


# --- compound unique constraints ---------------------------------------------------------------


async def test_compound_unique_constraint(integrity: RepositoryProvider) -> None:
    project = await integrity.of(Project).add(Project(name="P"))
    member = await integrity.of(Member).add(Member(name="Ada"))
    one, two = await integrity.of(Task).add_many(
        [Task(project_id=project.id), Task(project_id=project.id)]
    )
    votes = integrity.of(Vote)
    first = await votes.add(Vote(member.id, one.id))
    await votes.add(Vote(member.id, two.id))  # same member, another task: fine
    with pytest.raises(AlreadyExists) as info:
        await votes.add(Vote(member.id, one.id))
    assert info.value.field == "member_id+task_id"
    with pytest.raises(AlreadyExists):
        await votes.add_many([Vote(member.id, one.id)])
    second = (await votes.find_all({"task_id": two.id}))[0]
    with pytest.raises(AlreadyExists):
        await votes.update_fields(second.id, {"task_id": one.id})
    await votes.delete(first.id)
    assert (await votes.update_fields(second.id, {"task_id": one.id})).task_id == one.id
    assert await votes.count() == 1


@pytest.mark.concurrency
async def test_concurrent_creates_of_one_pair_give_one_success(
    integrity: RepositoryProvider,
) -> None:
    project = await integrity.of(Project).add(Project(name="P"))
    member = await integrity.of(Member).add(Member(name="Ada"))
    task = await integrity.of(Task).add(Task(project_id=project.id))
    votes = integrity.of(Vote)
    results = await asyncio.gather(
        *(votes.add(Vote(member.id, task.id)) for _ in range(50)), return_exceptions=True
    )
    successes = [r for r in results if isinstance(r, Vote)]
    conflicts = [r for r in results if isinstance(r, AlreadyExists)]
    assert (len(successes), len(conflicts)) == (1, 49), results
    assert await votes.count() == 1


# --- units of work -----------------------------------------------------------------------------


async def test_a_unit_of_work_commits_every_write_together(integrity: RepositoryProvider) -> None:
    async with integrity.unit_of_work() as uow:
        project = await uow.of(Project).add(Project(name="P"))
        task = await uow.of(Task).add(Task(project_id=project.id))
        await uow.of(Step).add(Step(task_id=task.id))
        await uow.of(Project).update_fields(project.id, {"name": "Renamed"})
    assert (await integrity.of(Project).get_or_raise(project.id)).name == "Renamed"
    assert await integrity.of(Task).count() == 1
    assert await integrity.of(Step).count() == 1


async def test_a_failing_unit_of_work_writes_nothing(integrity: RepositoryProvider) -> None:
    projects = integrity.of(Project)
    kept = await projects.add(Project(name="Kept", code="k"))
    gone = await projects.add(Project(name="Gone"))

    async def unit() -> None:
        async with integrity.unit_of_work() as uow:
            await uow.of(Project).update_fields(kept.id, {"name": "Changed"})
            await uow.of(Project).delete(gone.id)
            await uow.of(Project).add(Project(name="New", code="n"))
            await uow.of(Project).add(Project(name="Clash", code="K"))  # refused: code taken

    with pytest.raises(AlreadyExists):
        await unit()
    assert await projects.get_or_raise(kept.id) == kept
    assert await projects.get_or_raise(gone.id) == gone
    assert await projects.count() == 2


async def test_a_unit_of_work_killed_half_way_writes_nothing(
    integrity: RepositoryProvider,
) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with integrity.unit_of_work() as uow:
            project = await uow.of(Project).add(Project(name="P"))
            await uow.of(Task).add(Task(project_id=project.id))
            started.set()
            await asyncio.Event().wait()  # never set: the task is cancelled here

    running = asyncio.create_task(work())
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    assert started.is_set(), running.exception()  # the unit ran half-way, then stopped here
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await integrity.of(Project).count() == 0
    assert await integrity.of(Task).count() == 0


async def test_a_unit_of_work_keeps_version_checks(integrity: RepositoryProvider) -> None:
    projects = integrity.of(Project)
    stored = await projects.add(Project(name="P"))

    async def unit() -> None:
        async with integrity.unit_of_work() as uow:
            await uow.of(Member).add(Member(name="Ada"))
            await uow.of(Project).update_fields(stored.id, {"name": "Q"}, expected_version=7)

    with pytest.raises(ConcurrencyConflict):
        await unit()
    assert await integrity.of(Member).count() == 0
    assert await projects.get_or_raise(stored.id) == stored


# --- cursors -----------------------------------------------------------------------------------


async def test_cursors_only_page_the_query_that_issued_them(
    integrity: RepositoryProvider,
) -> None:
    await integrity.of(Project).add_many([Project(name=f"P{n}", code=f"c{n}") for n in range(3)])
    await integrity.of(Member).add_many([Member(name=f"M{n}") for n in range(3)])
    page = await integrity.of(Project).find(Query(limit=1))
    assert page.next_cursor is not None
    assert (await integrity.of(Project).find(Query(limit=1, cursor=page.next_cursor))).items
    with pytest.raises(InvalidCursor):  # another collection
        await integrity.of(Member).find(Query(limit=1, cursor=page.next_cursor))
    with pytest.raises(InvalidCursor):  # another filter
        await integrity.of(Project).find(
            Query(filter={"name": {"ne": "x"}}, limit=1, cursor=page.next_cursor)
        )
    token = page.next_cursor
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidCursor):
        await integrity.of(Project).find(Query(limit=1, cursor=tampered))


async def test_the_last_day_of_the_calendar_is_storable(integrity: RepositoryProvider) -> None:
    # The limit is the calendar in UTC, not an arbitrary year: 9999-12-31 UTC round trips.
    edge = dt.datetime(9999, 12, 31, 12, tzinfo=dt.UTC)
    stored = await integrity.of(Widget).add(Widget(sku="edge", created_at=edge))
    assert (await integrity.of(Widget).get_or_raise(stored.id)).created_at == edge


async def test_a_view_cursor_survives_changes_to_the_related_records(
    integrity: RepositoryProvider,
) -> None:
    # A relation filter is rewritten into the matching ids; the cursor is bound to the filter
    # as given, so a new matching project between two pages does not void it.
    first = await integrity.of(Project).add(Project(name="Same"))
    await integrity.of(Task).add_many([Task(project_id=first.id, title=f"t{n}") for n in range(3)])
    view = integrity.view("task")
    query = Query(filter={"project.name": "Same"}, sort="title", limit=2)
    page = await view.find(query)
    assert [p.entity.title for p in page.items] == ["t0", "t1"]
    await integrity.of(Project).add(Project(name="Same"))
    rest = await view.find(
        Query(filter={"project.name": "Same"}, sort="title", limit=2, cursor=page.next_cursor)
    )
    assert [p.entity.title for p in rest.items] == ["t2"]
    with pytest.raises(InvalidCursor):
        await view.find(
            Query(filter={"project.name": "Other"}, sort="title", limit=2, cursor=page.next_cursor)
        )
