"""The blocking facade has the async port's method names and semantics."""

from __future__ import annotations

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.adapters.persistence.sync import SyncPersistence, SyncRepository
from {{cookiecutter.package_name}}.ports.errors import AlreadyExists
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Repository

from tests.support.entities import Owner, build_registry


def test_same_method_names_as_the_async_port() -> None:
    port_methods = {n for n in dir(Repository) if not n.startswith("_")}
    assert port_methods <= {n for n in dir(SyncRepository) if not n.startswith("_")}


def test_sync_facade_from_plain_code() -> None:
    provider = RepositoryProvider(build_registry("sync"), {"memory": MemoryBackend}, "memory")
    with SyncPersistence(provider, create_schema=True) as persistence:
        owners = persistence.of(Owner)
        ada = owners.add(Owner(name="Ada", email="ada@example.org"))
        assert owners.get(ada.id) == ada
        with pytest.raises(AlreadyExists):
            owners.add(Owner(name="Other", email="ada@example.org"))
        assert owners.count() == 1
        assert [a.name for a in owners.find(Query(limit=5)).items] == ["Ada"]
        assert persistence.repo("owner").exists({"email": "ada@example.org"})
