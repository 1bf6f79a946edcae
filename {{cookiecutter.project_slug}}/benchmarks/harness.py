"""Timing harness and the one scenario every backend benchmark runs.

Each backend times the same operations through the repository and through its raw driver, in
the same run and on the same data, and reports the ratio. Ratios travel across machines;
absolute times do not (and on an emulator they are the emulator's, not the adapter's).

A backend module supplies a :class:`RawSide` (what a hand-written data layer would send) and a
started :class:`RepositoryProvider`; :func:`run_scenario` seeds the data through the repository
and measures both sides.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.entities import Owner, Status, Team, Widget

Action = Callable[[], Awaitable[object]]

PAGE = 20  # the filtered page
VIEW_PAGE = 50  # the populated-view page
BATCH = 1_000  # add_many


@dataclass(frozen=True)
class Sizes:
    """How much data one backend's run seeds and how often it samples."""

    widgets: int = 5_000
    owners: int = 100
    teams: int = 10
    batch: int = BATCH
    repeat: int = 100  # samples per side per round, fast operations
    batch_repeat: int = 5  # samples per side per round, add_many
    rounds: int = 3  # the best round of each side counts

    def quick(self) -> Sizes:
        """A run that only proves the benchmark works end to end."""
        return Sizes(
            widgets=min(self.widgets, 120),
            owners=10,
            teams=3,
            batch=min(self.batch, 100),
            repeat=3,
            batch_repeat=1,
            rounds=1,
        )


@dataclass(frozen=True)
class Measurement:
    operation: str
    repository_ms: float
    raw_ms: float
    raw_pool_ms: float | None = None  # the raw side through the driver's pool, where it has one

    @property
    def ratio(self) -> float:
        return self.repository_ms / self.raw_ms if self.raw_ms else float("inf")


@dataclass
class Report:
    backend: str
    rows: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ratios_only: bool = False  # an emulator: its absolute times say nothing about the adapter
    skipped: str | None = None


class RawSide(Protocol):
    """The same operations written directly against the driver, on the same tables."""

    async def get(self, key: str) -> object: ...

    async def create(self, item: Widget) -> object: ...

    async def filtered_page(self, limit: int) -> object:
        """status = active AND quantity >= 10 ORDER BY quantity DESC, id; ``limit`` rows."""
        ...

    async def view_page(self, limit: int) -> object:
        """``limit`` widgets by id, their owners, the owners' teams (three round trips)."""
        ...

    async def add_many(self, items: Sequence[Widget]) -> object: ...

    async def delete(self, keys: Sequence[str]) -> object:
        """Untimed clean-up between samples, so tables do not grow during the run."""
        ...


def widget(n: int, owner_id: str) -> Widget:
    return Widget(
        id=f"w{n:07d}",
        sku=f"SKU-{n:07d}",
        name=f"widget {n}",
        price=Decimal(f"{n % 100}.99"),
        quantity=n % 50,
        status=[Status.ACTIVE, Status.DRAFT, Status.ARCHIVED][n % 3],
        tags=["red"] if n % 2 else ["blue"],
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        owner_id=owner_id,
    )


async def median_ms(
    action: Action, repeat: int, warmup: int = 2, reset: Action | None = None
) -> float:
    """Median wall time of one call in milliseconds; ``reset`` runs untimed after each call."""
    samples = []
    for i in range(warmup + repeat):
        start = time.perf_counter()
        await action()
        elapsed = (time.perf_counter() - start) * 1000
        if reset is not None:
            await reset()
        if i >= warmup:
            samples.append(elapsed)
    return statistics.median(samples)


async def compare(
    operation: str,
    repository: Action,
    raw: Action,
    *,
    repeat: int,
    rounds: int,
    warmup: int = 2,
    reset: Action | None = None,
) -> Measurement:
    """Alternate the two sides ``rounds`` times and keep each side's best median, so drift on
    a busy machine hits both alike."""
    repo_ms: list[float] = []
    raw_ms: list[float] = []
    for _ in range(rounds):
        repo_ms.append(await median_ms(repository, repeat, warmup, reset))
        raw_ms.append(await median_ms(raw, repeat, warmup, reset))
    return Measurement(operation, min(repo_ms), min(raw_ms))


async def seed(provider: RepositoryProvider, sizes: Sizes, chunk: int = 500) -> list[str]:
    """Teams, owners and widgets through the repository; returns the owner ids."""
    teams = await provider.of(Team).add_many(
        [Team(id=f"t{i:04d}", name=f"t{i}") for i in range(sizes.teams)]
    )
    owners = await provider.of(Owner).add_many(
        [
            Owner(id=f"o{i:05d}", name=f"o{i}", email=f"o{i}@x.io", team_id=team.id)
            for i, team in zip(range(sizes.owners), itertools.cycle(teams), strict=False)
        ]
    )
    owner_ids = [o.id for o in owners]
    repo = provider.of(Widget)
    for start in range(0, sizes.widgets, chunk):
        stop = min(start + chunk, sizes.widgets)
        await repo.add_many([widget(n, owner_ids[n % len(owner_ids)]) for n in range(start, stop)])
    return owner_ids


async def run_scenario(
    provider: RepositoryProvider, raw: RawSide, sizes: Sizes, after_seed: Action | None = None
) -> list[Measurement]:
    """Seed, then time every operation on both sides. The provider must be started;
    ``after_seed`` runs once the data is in (e.g. ``ANALYZE``)."""
    owner_ids = await seed(provider, sizes)
    if after_seed is not None:
        await after_seed()
    repo = provider.of(Widget)
    view = provider.view("widget")
    fresh = itertools.count(10_000_000)  # ids never used by the seed
    made: list[str] = []

    def new_widget() -> Widget:
        n = next(fresh)
        made.append(f"w{n:07d}")
        return widget(n, owner_ids[n % len(owner_ids)])

    async def forget() -> None:
        if made:
            await raw.delete(list(made))
            made.clear()

    async def repo_create() -> None:
        await repo.add(new_widget())

    async def raw_create() -> None:
        await raw.create(new_widget())

    async def repo_add_many() -> None:
        await repo.add_many([new_widget() for _ in range(sizes.batch)])

    async def raw_add_many() -> None:
        await raw.add_many([new_widget() for _ in range(sizes.batch)])

    key = widget(sizes.widgets // 2, "").id
    page_query = Query(
        filter={"status": "active", "quantity": {"gte": 10}}, sort="-quantity", limit=PAGE
    )
    return [
        await compare(
            "get by id",
            lambda: repo.get(key),
            lambda: raw.get(key),
            repeat=sizes.repeat,
            rounds=sizes.rounds,
        ),
        await compare(
            "create",
            repo_create,
            raw_create,
            repeat=sizes.repeat,
            rounds=sizes.rounds,
            reset=forget,
        ),
        await compare(
            f"filtered page ({PAGE})",
            lambda: repo.find(page_query),
            lambda: raw.filtered_page(PAGE),
            repeat=sizes.repeat,
            rounds=sizes.rounds,
        ),
        await compare(
            f"populated view page ({VIEW_PAGE})",
            lambda: view.find(Query(limit=VIEW_PAGE), include=["owner.team"]),
            lambda: raw.view_page(VIEW_PAGE),
            repeat=max(1, sizes.repeat // 2),
            rounds=sizes.rounds,
        ),
        await compare(
            f"add_many ({sizes.batch})",
            repo_add_many,
            raw_add_many,
            repeat=sizes.batch_repeat,
            rounds=sizes.rounds,
            warmup=1,
            reset=forget,
        ),
    ]


def print_reports(reports: Sequence[Report]) -> None:
    print("\nrepository vs raw driver: median ms per operation (best of the rounds)")
    print(f"{'backend':<10}{'operation':<30}{'repository':>12}{'raw':>10}{'ratio':>8}")
    for report in reports:
        if report.skipped:
            print(f"{report.backend:<10}skipped: {report.skipped}")
            continue
        mark = " *" if report.ratios_only else ""
        for row in report.rows:
            pool = ""
            if row.raw_pool_ms is not None and row.raw_ms:
                pool = f"   raw pool {row.raw_pool_ms:.3f} ({row.raw_pool_ms / row.raw_ms:.2f})"
            print(
                f"{report.backend:<10}{row.operation:<30}{row.repository_ms:>12.3f}"
                f"{row.raw_ms:>10.3f}{row.ratio:>8.2f}{mark}{pool}"
            )
    if any(row.raw_pool_ms is not None for r in reports for row in r.rows):
        print("raw pool: the raw side through the driver's pool (ratio to the raw column)")
    if any(r.ratios_only and not r.skipped for r in reports):
        print("* emulator: its absolute times are the emulator's; read the ratio only")
    for report in reports:
        for note in report.notes:
            print(f"{report.backend}: {note}")
