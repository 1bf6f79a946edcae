"""The memory backend's indexes answer reads exactly as a scan of every row would.

Lookups by id, unique and indexed fields, counts and id-ordered pages go through the table's
indexes (``adapters/persistence/memory/indexes.py``); these tests hold them to the behaviour of
the rows themselves: expired rows stay invisible, writes inside a unit of work are seen at once
and undone with it, an update moves a row between index entries, pages in id order match a
sorted scan in both directions and across cursors, and stored rows share nothing with callers.
No timing is asserted here: the figures are in ``benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.indexes import SortedKeys
from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)
from {{cookiecutter.package_name}}.ports.errors import AlreadyExists
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Repository


@dataclass
class Token:
    code: str
    owner: str
    expires_at: int  # epoch seconds: the TTL field
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = 0


@pytest.fixture
async def provider() -> AsyncIterator[RepositoryProvider]:
    registry = EntityRegistry()
    registry.register(
        "token",
        {
            "entity": Token,
            "unique": ["code"],
            "indexes": ["owner"],
            "ttl_field": "expires_at",
        },
    )
    provider = RepositoryProvider(registry, {"memory": MemoryBackend}, "memory")
    await provider.start(create_schema=True)
    yield provider
    await provider.close()


@pytest.fixture
def tokens(provider: RepositoryProvider) -> Repository[Token]:
    return provider.of(Token)


LATER = int(time.time()) + 3600
EARLIER = int(time.time()) - 10


async def test_index_lookups_and_counts_hide_expired_rows(tokens: Repository[Token]) -> None:
    live = await tokens.add(Token(code="a", owner="ann", expires_at=LATER))
    gone = await tokens.add(Token(code="b", owner="ann", expires_at=EARLIER))

    assert await tokens.get_by("code", "a") == live
    assert await tokens.get_by("code", "b") is None
    assert await tokens.find_one({"code": "b"}) is None
    assert await tokens.find_one({"id": gone.id}) is None
    assert (await tokens.find(Query(filter={"code": ["a", "b"]}))).items == [live]
    assert await tokens.count({"code": "b"}) == 0
    assert await tokens.count({"owner": "ann"}) == 1
    assert await tokens.count({"owner": ["ann", "bob"]}) == 1
    assert await tokens.count() == 1
    assert not await tokens.exists({"code": "b"})
    assert [t.id for t in (await tokens.find(Query(filter={"owner": "ann"}))).items] == [live.id]


async def test_an_expired_unique_value_can_be_taken_and_is_then_found(
    tokens: Repository[Token],
) -> None:
    await tokens.add(Token(code="a", owner="ann", expires_at=EARLIER))
    again = await tokens.add(Token(code="a", owner="bob", expires_at=LATER))

    assert await tokens.get_by("code", "a") == again
    assert await tokens.count({"code": "a"}) == 1


async def test_writes_in_a_unit_of_work_are_seen_by_the_indexes_and_undone_with_it(
    provider: RepositoryProvider, tokens: Repository[Token]
) -> None:
    kept = await tokens.add(Token(code="kept", owner="ann", expires_at=LATER))

    async def unit() -> None:
        async with provider.unit_of_work() as uow:
            repo = uow.of(Token)
            new = await repo.add(Token(code="new", owner="bob", expires_at=LATER))
            await repo.update_fields(kept.id, {"code": "renamed", "owner": "bob"})
            assert await repo.get_by("code", "new") == new
            assert await repo.get_by("code", "renamed") is not None
            assert await repo.get_by("code", "kept") is None
            assert await repo.count({"owner": "bob"}) == 2
            assert await repo.count({"owner": "ann"}) == 0
            page = await repo.find(Query(filter={"owner": "bob"}, limit=5))
            assert {t.id for t in page.items} == {new.id, kept.id}
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        await unit()
    assert await tokens.get_by("code", "new") is None
    assert await tokens.get_by("code", "renamed") is None
    assert await tokens.get_by("code", "kept") == kept
    assert await tokens.count({"owner": "bob"}) == 0
    assert await tokens.count({"owner": "ann"}) == 1
    assert [t.id for t in (await tokens.find()).items] == [kept.id]
    await tokens.add(Token(code="new", owner="bob", expires_at=LATER))  # the value is free again


async def test_updates_and_deletes_move_rows_between_index_entries(
    tokens: Repository[Token],
) -> None:
    token = await tokens.add(Token(code="a", owner="ann", expires_at=LATER))
    moved = await tokens.update_fields(token.id, {"code": "b", "owner": "bob"})

    assert await tokens.get_by("code", "a") is None
    assert await tokens.get_by("code", "b") == moved
    assert await tokens.count({"owner": "ann"}) == 0
    assert await tokens.count({"owner": "bob"}) == 1
    await tokens.add(Token(code="a", owner="ann", expires_at=LATER))  # released by the update
    with pytest.raises(AlreadyExists):
        await tokens.add(Token(code="b", owner="ann", expires_at=LATER))

    await tokens.delete(token.id)
    assert await tokens.get_by("code", "b") is None
    assert await tokens.count({"owner": "bob"}) == 0
    assert await tokens.count() == 1


@pytest.mark.parametrize("seed", range(4))
async def test_id_ordered_pages_match_a_sorted_scan(tokens: Repository[Token], seed: int) -> None:
    rng = random.Random(seed)
    owners = ["ann", "bob", "cid", "dee"]
    made = await tokens.add_many(
        [
            Token(
                code=f"c{n}",
                owner=rng.choice(owners),
                expires_at=rng.choice([LATER, LATER, EARLIER]),
                id=f"t{rng.randrange(10**6):06d}-{n}",
            )
            for n in range(60)
        ]
    )
    await tokens.delete_many([t.id for t in rng.sample(made, 10)])
    rows = [t for t in await tokens.find_all() if t.expires_at == LATER]
    filters: list[dict[str, Any] | None] = [
        None,
        {"owner": "bob"},
        {"owner": ["ann", "dee"]},
        {"code": rng.choice(made).code},
        {"code": [t.code for t in rng.sample(made, 5)]},
        {"owner": "cid", "code": {"begins_with": "c1"}},
        {"code": {"begins_with": "c2"}},
    ]
    for where in filters:
        expected = sorted(t.id for t in rows if _matches(t, where))
        for descending in (False, True):
            want = expected[::-1] if descending else expected
            sort = "-id" if descending else "id"
            got = await _all_pages(tokens, where, sort, rng.choice([1, 3, 7, 50]))
            assert got == want, (where, sort)
            assert await tokens.count(where) == len(want)


def _matches(token: Token, where: dict[str, Any] | None) -> bool:
    for name, wanted in (where or {}).items():
        value = getattr(token, name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif isinstance(wanted, dict):
            if not value.startswith(wanted["begins_with"]):
                return False
        elif value != wanted:
            return False
    return True


async def _all_pages(
    repo: Repository[Token], where: dict[str, Any] | None, sort: str, limit: int
) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):  # more pages than rows: the listing never ends
        page = await repo.find(Query(filter=where, sort=sort, limit=limit, cursor=cursor))
        ids += [t.id for t in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
    raise AssertionError(f"{sort} pages of {where} never end")


async def test_stored_rows_share_nothing_with_the_caller(tokens: Repository[Token]) -> None:
    payload = bytearray(b"abc")  # storable, mutable, not a plain value: copied on the way in
    given = Token(code="a", owner="ann", expires_at=LATER, extra={"blob": payload, "n": [1]})
    stored = await tokens.add(given)
    payload.extend(b"!")
    given.extra["n"].append(2)
    stored.extra["blob"].extend(b"?")
    stored.extra["n"].append(3)

    found = await tokens.get_by("code", "a")
    assert found is not None
    assert found.extra == {"blob": bytearray(b"abc"), "n": [1]}
    found.extra["blob"].extend(b"?")
    again = await tokens.get(found.id)
    assert again is not None
    assert again.extra["blob"] == bytearray(b"abc")


def test_sorted_keys_agree_with_a_sorted_list() -> None:
    class Small(SortedKeys):
        LOAD = 2  # blocks split and empty out all the time

    rng = random.Random(7)
    keys = Small()
    reference: set[str] = set()
    for _ in range(600):
        key = f"k{rng.randrange(150):03d}"
        if key in reference and rng.random() < 0.5:
            keys.discard(key)
            reference.discard(key)
        elif key not in reference:
            keys.add(key)
            reference.add(key)
        ordered = sorted(reference)
        pivot = f"k{rng.randrange(160):03d}"
        assert list(keys.ascending()) == ordered
        assert list(keys.ascending(pivot)) == [k for k in ordered if k > pivot]
        assert list(keys.descending(pivot)) == [k for k in reversed(ordered) if k < pivot]
        assert len(keys) == len(ordered)
    assert list(Small().descending()) == list(Small().ascending("x")) == []
