"""Every persistence backend the contract suite runs against.

Each entry opens a backend on a real server (or in process, for memory) and yields it
*unstarted*; the suite starts it with a registry whose table names are unique to the test,
and the entry cleans those tables up afterwards. An entry that cannot reach its server calls
``unavailable()``: skipped on a laptop, a failure in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    PersistenceBackend,
)

from tests.support.backend_dynamodb import open_dynamodb
from tests.support.backend_mongo import open_mongo
from tests.support.backend_postgres import open_postgres

BackendOpener = Callable[
    [pytest.FixtureRequest, EntityRegistry], AbstractAsyncContextManager[PersistenceBackend]
]


@asynccontextmanager
async def open_memory(
    request: pytest.FixtureRequest, registry: EntityRegistry
) -> AsyncIterator[PersistenceBackend]:
    yield MemoryBackend()


# Each real backend's opener lives in tests/support/backend_<name>.py.
BACKENDS: dict[str, BackendOpener] = {
    "memory": open_memory,
    "dynamodb": open_dynamodb,
    "postgres": open_postgres,
    "mongo": open_mongo,
}
