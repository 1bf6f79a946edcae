"""persistence-kit's Quick Start, adapted only in its imports, against ``create_app()``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from {{cookiecutter.package_name}}.adapters.persistence import persistence_kit
from {{cookiecutter.package_name}}.adapters.persistence.persistence_kit import (
    get_repo,
    get_repo_view,
    register_entity,
    set_registry_initializer,
)
from {{cookiecutter.package_name}}.adapters.persistence.specs import EntityRegistry
from {{cookiecutter.package_name}}.main import create_app
from {{cookiecutter.package_name}}.ports.errors import AlreadyExists
from {{cookiecutter.package_name}}.settings import Database

from tests.support.app import memory_settings


@dataclass
class User:
    email: str
    name: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@pytest.fixture(autouse=True)
def fresh_module_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """persistence-kit's API is module-level: each test gets its own registry behind it."""
    monkeypatch.setattr(persistence_kit, "default_registry", EntityRegistry())
    monkeypatch.setattr(persistence_kit, "_initializer", None)


async def test_the_quick_start_works_in_a_running_app(tmp_path: Path) -> None:
    register_entity(
        "user",
        {
            "entity": User,
            "collection": "users",
            "database": Database.MEMORY,
            "unique": {"email": "email"},
        },
    )
    app = create_app(memory_settings(tmp_path, seed_demo_data=False))
    async with app.router.lifespan_context(app):
        repo = get_repo("user")
        ada = await repo.add(User(email="ada@example.org", name="Ada"))
        assert await repo.get(ada.id) == ada
        with pytest.raises(AlreadyExists):
            await repo.add(User(email="ada@example.org"))
        assert (await get_repo_view("user").get(ada.id)) is not None


async def test_an_initializer_registers_when_the_service_builds_its_registry(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    def initializer() -> None:
        calls.append("run")
        register_entity("user", {"entity": User, "collection": "users"})

    set_registry_initializer(initializer)
    app = create_app(memory_settings(tmp_path, seed_demo_data=False))
    async with app.router.lifespan_context(app):
        assert await get_repo("user").count() == 0
    assert calls == ["run"]


def test_outside_a_running_app_it_says_what_to_do() -> None:
    register_entity("user", {"entity": User, "collection": "users"})
    with pytest.raises(RuntimeError, match=r"get_repo\('user'\) needs the running service"):
        get_repo("user")
    with pytest.raises(RuntimeError, match="activate"):
        get_repo_view("user")
