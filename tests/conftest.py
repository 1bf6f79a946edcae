from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import bake, copy_template

# Each answer that is not the default appears in at least one combination
# (tests/test_bake.py::test_every_answer_is_baked checks it against cookiecutter.json).
COMBINATIONS: dict[str, dict[str, str]] = {
    "defaults": {},
    "postgres-s3-py312": {
        "project_name": "My Service 2",
        "python_version": "3.12",
        "repository_backend": "postgres",
        "storage_backend": "s3",
    },
    "mongo-cognito-py314": {
        "project_name": "Inventory",
        "description": "Keeps track of stock, one shelf at a time.",
        "author_name": "Ada Lovelace",
        "author_email": "ada@example.org",
        "python_version": "3.14",
        "repository_backend": "mongo",
        "identity_backend": "cognito",
    },
    "dynamodb-custom-names": {
        "project_name": "Orders API",
        "project_slug": "orders",
        "package_name": "orders_core",
        "repository_backend": "dynamodb",
        "identity_backend": "memory",
    },
}


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of the template: a developer's caches and venvs never leak into bakes."""
    return copy_template(tmp_path_factory.mktemp("template"))


class Bakery:
    """Bakes each combination once per test session (per xdist worker)."""

    def __init__(self, template: Path, factory: pytest.TempPathFactory) -> None:
        self.template = template
        self.factory = factory
        self.baked: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        if name not in self.baked:
            self.baked[name] = self.own(name)
        return self.baked[name]

    def own(self, name: str) -> Path:
        """A bake no other test sees, for a test that writes into it (a suite's caches)."""
        return bake(self.template, self.factory.mktemp(f"bake-{name}"), **COMBINATIONS[name])


@pytest.fixture(scope="session")
def bakery(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Bakery:
    return Bakery(template, tmp_path_factory)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The baked projects' suites first: started last, one of them would end the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("suite") is None)
