"""Memory: the repository against a plain dict store holding the same records.

    PYTHONPATH=src python -m benchmarks.bench_memory [--quick]

The memory backend has no driver, so the raw side is the least a hand-written in-process
store does: a dict of id -> record, filters and sort keys written as lambdas for this one
query, entities built with ``Widget(**record)`` (sharing the stored lists: no copies), writes
that store the record without unique or version checks and without a lock. The ratio is what
the kit's generic query evaluation, isolation copies and invariant checks cost.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from benchmarks.harness import Report, Sizes, run_scenario
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

    async def get(self, key: str) -> object:
        record = self.widgets.get(key)
        return None if record is None else Widget(**record)

    async def create(self, item: Widget) -> object:
        if item.id in self.widgets:
            raise KeyError(item.id)
        self.widgets[item.id] = dict(vars(dataclasses.replace(item, version=1)))
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
            self.widgets[item.id] = dict(vars(dataclasses.replace(item, version=1)))
        return items

    async def delete(self, keys: Sequence[str]) -> object:
        for key in keys:
            self.widgets.pop(key, None)
        return await self.provider.of(Widget).delete_many(keys)


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
    finally:
        await provider.close()
    report.notes.append(
        f"{sizes.widgets} widgets; no driver: raw = a plain dict store of the same records"
        " (hand-written filter/sort lambdas, Widget(**record), no copies, no checks)"
    )
    return report


if __name__ == "__main__":
    from benchmarks.run import main

    main(["--backends", "memory", *sys.argv[1:]])
