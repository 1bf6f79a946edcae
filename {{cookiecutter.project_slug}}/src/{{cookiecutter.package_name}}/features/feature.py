"""What a feature declares: the composition root (``registrations.py``, ``main.py``) reads
these, so adding a feature is one module here and one line in ``registrations.FEATURES``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from ..adapters.persistence.registry import EntityRegistry


@dataclass(frozen=True)
class Feature:
    """One feature of the service.

    ``register`` declares its entities (and may add relations to other features' entities);
    ``router`` builds its routes once every feature is registered; ``demo_records`` gives the
    records ``SEED_DEMO_DATA=true`` upserts at start-up, by entity name, parents first.
    """

    name: str
    register: Callable[[EntityRegistry], None]
    router: Callable[[EntityRegistry], APIRouter] | None = None
    demo_records: Callable[[], Mapping[str, Sequence[Any]]] | None = None
