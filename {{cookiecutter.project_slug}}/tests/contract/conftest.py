from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    RepositoryProvider,
)

from tests.support.backends import BACKENDS
from tests.support.entities import build_integrity_registry, build_registry


@pytest.fixture(params=sorted(BACKENDS))
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryProvider]:
    """A started provider on one backend, with tables no other test uses."""
    async with started(request, build_registry(uuid.uuid4().hex[:10])) as repositories:
        yield repositories


@pytest.fixture(params=sorted(BACKENDS))
async def integrity(request: pytest.FixtureRequest) -> AsyncIterator[RepositoryProvider]:
    """Like ``provider``, with the integrity contract's entities."""
    async with started(request, build_integrity_registry(uuid.uuid4().hex[:10])) as repositories:
        yield repositories


@asynccontextmanager
async def started(
    request: pytest.FixtureRequest, registry: EntityRegistry
) -> AsyncIterator[RepositoryProvider]:
    async with BACKENDS[request.param](request, registry) as backend:
        repositories = RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)
        await repositories.start(create_schema=True)
        try:
            yield repositories
        finally:
            await repositories.close()
