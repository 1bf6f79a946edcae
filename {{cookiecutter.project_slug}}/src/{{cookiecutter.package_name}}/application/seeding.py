"""Idempotent start-up seeding, as persistence-kit's SeederProvider / ConfigRegistry do it.

Seeders write with upserts (or "create if missing") and deterministic ids, so running them on
every start, or on every replica at once, converges to the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ports.errors import AlreadyExists
from ..ports.repository import Repository

logger = logging.getLogger(__name__)

Seeder = Callable[[], Awaitable[None]]


@dataclass
class ConfigRegistry:
    """Reference data to upsert at start-up, per entity name."""

    items: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, entity: str, records: Sequence[Any]) -> None:
        self.items.setdefault(entity, []).extend(records)


class SeederProvider:
    """Runs named seeders in registration order; each must be idempotent."""

    def __init__(self) -> None:
        self._seeders: list[tuple[str, Seeder]] = []

    def register(self, name: str, seeder: Seeder) -> None:
        self._seeders.append((name, seeder))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._seeders]

    async def run_all(self) -> None:
        for name, seeder in self._seeders:
            logger.info("seeding %s", name)
            await seeder()


def upsert_seeder(
    repositories: Callable[[str], Repository[Any]],
    config: ConfigRegistry,
    *,
    ignore: Sequence[str] = ("version", "created_at"),
) -> Seeder:
    """Insert missing records and correct drifted ones; leave equal ones untouched, so a
    restart does not bump versions. Records need deterministic ids."""

    async def seed() -> None:
        for entity, records in config.items.items():
            repo = repositories(entity)
            for record in records:
                stored = await repo.get(record.id)
                if stored is None:
                    try:
                        await repo.add(record)
                    except AlreadyExists:  # another replica seeded it first
                        logger.debug("%s %s was seeded concurrently", entity, record.id)
                    continue
                drift = {
                    name: value
                    for name, value in vars(record).items()
                    if name not in ignore and getattr(stored, name) != value
                }
                if drift:
                    await repo.update_fields(record.id, drift)

    return seed
