"""Memory: the repository against a plain dict store holding the same records.

    PYTHONPATH=src python -m benchmarks.bench_memory [--quick]

The memory backend has no driver, so the raw side is the least a hand-written in-process
store does: a dict of id -> record, filters and sort keys written as lambdas for this one
query, entities built with ``Widget(**record)`` (sharing the stored lists: no copies), writes
that store the record without unique or version checks and without a lock. Like the kit, it
keeps indexes, maintained on every write: sku -> id (the unique field), status -> ids (an
indexed field) and the ids in order (``bisect.insort``). The ratio is what the kit's filter
parsing, isolation copies, invariant checks and generic index planning cost.

Besides the shared scenario (:mod:`.harness`: get by id, create, a page sorted by quantity,
the populated view, add_many), each side does, on the same data:

- lookup by the unique sku: the kit by ``get_by``, by ``find_one`` and by ``find`` (a page
  of at most 20) with ``{"sku": ...}``; the dict store reads its sku index and builds the
  entity (a list of it for ``find``);
- count: every row (the kit ``count()``, the dict store ``len``), filtered on the unique sku
  (the dict store: membership in its sku index) and on the indexed status (the size of its
  status index entry);
- a page of 20 in id order, ``status = active AND quantity >= 10``: both walk their ids in
  order, testing each row, until 21 rows match (the 21st says another page follows; the kit
  signs a cursor for it, the dict store returns the 20 entities);
- add with the entity built beforehand (``create`` builds it inside the timed call).

Query objects are built once, outside the timed calls, as the harness does.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from bisect import bisect_left, insort
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from benchmarks.harness import (
    PAGE,
    Action,
    Measurement,
    Report,
    Sizes,
    compare,
    run_scenario,
    widget,
)
from tests.support.entities import Owner, Status, Team, Widget, build_registry

SIZES = Sizes(widgets=5_000, owners=100, teams=10)

Record = dict[str, Any]


class PlainDictStore:
    """Filled from the repository once the seed is in; then independent of it (except that
    the untimed clean-up between samples removes the scenario's writes from both)."""

    def __init__(self, provider: RepositoryProvider) -> None:
        self.provider = provider
        self.widgets: dict[str, Record] = {}
        self.owners: dict[str, Record] = {}
        self.teams: dict[str, Record] = {}
        self.by_sku: dict[str, str] = {}
        self.by_status: dict[Status, set[str]] = {}
        self.order: list[str] = []  # the widget ids, sorted

    async def load(self) -> None:
        tables: list[tuple[dict[str, Record], type[Any]]] = [
            (self.widgets, Widget),
            (self.owners, Owner),
            (self.teams, Team),
        ]
        for table, entity in tables:
            for item in (await self.provider.of(entity).find(Query())).items:
                record = dict(vars(item))
                table[record["id"]] = record
        for record in self.widgets.values():
            self._index(record)

    def _index(self, record: Record) -> None:
        self.by_sku[record["sku"]] = record["id"]
        self.by_status.setdefault(record["status"], set()).add(record["id"])
        insort(self.order, record["id"])

    def _store(self, item: Widget) -> None:
        record = dict(vars(dataclasses.replace(item, version=1)))
        self.widgets[item.id] = record
        self._index(record)

    async def get(self, key: str) -> object:
        record = self.widgets.get(key)
        return None if record is None else Widget(**record)

    async def get_by_sku(self, sku: str) -> object:
        key = self.by_sku.get(sku)
        return None if key is None else Widget(**self.widgets[key])

    async def find_by_sku(self, sku: str) -> object:
        key = self.by_sku.get(sku)
        return [] if key is None else [Widget(**self.widgets[key])]

    async def count(self) -> int:
        return len(self.widgets)

    async def count_sku(self, sku: str) -> int:
        return int(sku in self.by_sku)

    async def count_status(self, status: Status) -> int:
        return len(self.by_status.get(status, ()))

    async def id_page(self, limit: int) -> object:
        rows: list[Record] = []
        for key in self.order:
            record = self.widgets[key]
            if record["status"] == Status.ACTIVE and record["quantity"] >= 10:
                rows.append(record)
                if len(rows) > limit:
                    break
        return [Widget(**r) for r in rows[:limit]]

    async def create(self, item: Widget) -> object:
        if item.id in self.widgets:
            raise KeyError(item.id)
        self._store(item)
        return item

    async def filtered_page(self, limit: int) -> object:
        rows = [
            r for r in self.widgets.values() if r["status"] == Status.ACTIVE and r["quantity"] >= 10
        ]
        rows.sort(key=lambda r: (-r["quantity"], r["id"]))
        return [Widget(**r) for r in rows[: limit + 1]]

    async def view_page(self, limit: int) -> object:
        rows = sorted(self.widgets.values(), key=itemgetter("id"))[: limit + 1]
        page = [Widget(**r) for r in rows[:limit]]
        owners = {w.owner_id: Owner(**self.owners[w.owner_id]) for w in page if w.owner_id}
        teams = {o.team_id: Team(**self.teams[o.team_id]) for o in owners.values() if o.team_id}
        return page, owners, teams

    async def add_many(self, items: Sequence[Widget]) -> object:
        for item in items:
            self._store(item)
        return items

    async def delete(self, keys: Sequence[str]) -> object:
        for key in keys:
            record = self.widgets.pop(key, None)
            if record is not None:
                del self.by_sku[record["sku"]]
                self.by_status[record["status"]].discard(key)
                del self.order[bisect_left(self.order, key)]
        return await self.provider.of(Widget).delete_many(keys)


async def lookups(
    provider: RepositoryProvider, store: PlainDictStore, sizes: Sizes
) -> list[Measurement]:
    """What the shared scenario does not time: unique lookups, counts, an id-ordered page,
    and add with the entity built beforehand."""
    repo = provider.of(Widget)
    sku = widget(sizes.widgets // 3, "").sku
    by_sku = Query(filter={"sku": sku}, limit=PAGE)
    id_page = Query(filter={"status": "active", "quantity": {"gte": 10}}, limit=PAGE)
    fresh = (widget(n, "o00000") for n in itertools.count(20_000_000))  # ids the seed never uses
    added: list[str] = []

    async def repo_add() -> None:
        item = next(fresh)
        added.append(item.id)
        await repo.add(item)

    async def raw_add() -> None:
        item = next(fresh)
        added.append(item.id)
        await store.create(item)

    async def forget() -> None:
        await store.delete(added)
        added.clear()

    async def both(operation: str, repository: Action, raw: Action) -> Measurement:
        return await compare(operation, repository, raw, repeat=sizes.repeat, rounds=sizes.rounds)

    return [
        await both(
            "unique lookup (get_by)",
            lambda: repo.get_by("sku", sku),
            lambda: store.get_by_sku(sku),
        ),
        await both(
            "unique lookup (find_one)",
            lambda: repo.find_one({"sku": sku}),
            lambda: store.get_by_sku(sku),
        ),
        await both(
            "unique lookup (find)",
            lambda: repo.find(by_sku),
            lambda: store.find_by_sku(sku),
        ),
        await both("count", repo.count, store.count),
        await both(
            "count (unique field)",
            lambda: repo.count({"sku": sku}),
            lambda: store.count_sku(sku),
        ),
        await both(
            "count (indexed field)",
            lambda: repo.count({"status": "active"}),
            lambda: store.count_status(Status.ACTIVE),
        ),
        await both(
            f"id-ordered page ({PAGE})",
            lambda: repo.find(id_page),
            lambda: store.id_page(PAGE),
        ),
        await compare(
            "add (entity built before)",
            repo_add,
            raw_add,
            repeat=sizes.repeat,
            rounds=sizes.rounds,
            reset=forget,
        ),
    ]


async def run(quick: bool = False) -> Report:
    sizes = SIZES.quick() if quick else SIZES
    registry = build_registry("bench")
    backend = MemoryBackend()
    provider = RepositoryProvider(registry, {"memory": lambda: backend}, "memory")
    await provider.start(create_schema=True)
    store = PlainDictStore(provider)
    report = Report("memory")
    try:
        report.rows = await run_scenario(provider, store, sizes, after_seed=store.load)
        report.rows += await lookups(provider, store, sizes)
    finally:
        await provider.close()
    report.notes.append(
        f"{sizes.widgets} widgets; no driver: raw = a plain dict store of the same records"
        " (hand-written filter/sort lambdas, Widget(**record), no copies, no checks; sku,"
        " status and id-order indexes); create = build the widget, then add it"
    )
    return report


if __name__ == "__main__":
    from benchmarks.run import main

    main(["--backends", "memory", *sys.argv[1:]])
