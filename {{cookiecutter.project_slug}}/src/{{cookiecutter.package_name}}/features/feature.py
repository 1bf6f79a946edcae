"""What a feature declares: the composition root (``registrations.py``, ``main.py``) reads
these, so adding a feature is one module here and one line in ``registrations.FEATURES``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from ..adapters.persistence.registry import EntityRegistry, RepositoryProvider


@dataclass(frozen=True)
class Feature:
    """One feature of the service.

    ``register`` declares its entities (and may add relations to other features' entities);
    ``router`` builds its routes once every feature is registered; ``use_cases`` builds its
    application services once (the container calls it; routes get them with
    ``Depends(use_case(TheService))``); ``demo_records`` gives the records
    ``SEED_DEMO_DATA=true`` upserts at start-up, by entity name, parents first.
    """

    name: str
    register: Callable[[EntityRegistry], None]
    router: Callable[[EntityRegistry], APIRouter] | None = None
    use_cases: Callable[[RepositoryProvider], Iterable[object]] | None = None
    demo_records: Callable[[], Mapping[str, Sequence[Any]]] | None = None
