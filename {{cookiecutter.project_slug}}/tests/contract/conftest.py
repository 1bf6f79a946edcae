from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider

from tests.support.backends import BACKENDS
from tests.support.entities import build_registry


@pytest.fixture(params=sorted(BACKENDS))
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryProvider]:
    """A started provider on one backend, with tables no other test uses."""
    registry = build_registry(uuid.uuid4().hex[:10])
    async with BACKENDS[request.param](request, registry) as backend:
        repositories = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await repositories.start(create_schema=True)
        try:
            yield repositories
        finally:
            await repositories.close()
