"""The blocking facade has the async port's method names and semantics."""

from __future__ import annotations

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.adapters.persistence.sync import SyncPersistence, SyncRepository
from {{cookiecutter.package_name}}.domain.library import Author
from {{cookiecutter.package_name}}.ports.errors import AlreadyExists
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Repository
from {{cookiecutter.package_name}}.registrations import build_registry


def test_same_method_names_as_the_async_port() -> None:
    port_methods = {n for n in dir(Repository) if not n.startswith("_")}
    assert port_methods <= {n for n in dir(SyncRepository) if not n.startswith("_")}


def test_sync_facade_from_plain_code() -> None:
    provider = RepositoryProvider(build_registry(), {"memory": MemoryBackend}, "memory")
    with SyncPersistence(provider, create_schema=True) as persistence:
        authors = persistence.of(Author)
        ada = authors.add(Author(name="Ada", email="ada@example.org"))
        assert authors.get(ada.id) == ada
        with pytest.raises(AlreadyExists):
            authors.add(Author(name="Other", email="ada@example.org"))
        assert authors.count() == 1
        assert [a.name for a in authors.find(Query(limit=5)).items] == ["Ada"]
        assert persistence.repo("author").exists({"email": "ada@example.org"})
