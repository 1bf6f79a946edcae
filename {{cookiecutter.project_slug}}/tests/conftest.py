from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.migrations import fresh_database as _fresh_database
from tests.support.services import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session; tests isolate themselves by unique names."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A PostgreSQL database of its own (``alembic_version`` and the tables start empty)."""
    async for url in _fresh_database():
        yield url
