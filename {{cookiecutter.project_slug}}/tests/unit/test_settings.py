from __future__ import annotations

import pytest
from pydantic import ValidationError

from {{cookiecutter.package_name}}.settings import Settings


def test_list_settings_accept_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEED_ROLES", "admin, operator")
    assert Settings(_env_file=None).seed_roles == ("admin", "operator")
    monkeypatch.setenv("SEED_ROLES", '["a", "b"]')
    assert Settings(_env_file=None).seed_roles == ("a", "b")


def test_persistence_kit_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPO_DATABASE", "postgres")
    monkeypatch.setenv("POSTGRES_USER", "svc")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss word")
    monkeypatch.setenv("POSTGRES_HOST", "db")
    monkeypatch.setenv("POSTGRES_DB", "app")
    settings = Settings(_env_file=None)
    assert settings.repo_database.value == "postgres"
    assert settings.postgres_url == "postgresql+asyncpg://svc:p%40ss%20word@db:5432/app"


def test_production_refuses_placeholder_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(
            _env_file=None,
            environment="production",
            identity_backend="memory",  # whatever the answers chose: the HS256 secret's check
            allow_memory_backends_in_production=True,
            cursor_secret="c" * 48,
            jwt_secret="change-me",
            storage_signing_secret="a-real-signing-secret-of-enough-length!",
        )


@pytest.mark.parametrize("secret", ["change-me", "secret", "only-twenty-chars-xx"])
def test_production_refuses_a_placeholder_or_short_cursor_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="CURSOR_SECRET"):
        Settings(
            _env_file=None,
            environment="production",
            cursor_secret=secret,
            jwt_secret="j" * 48,
            storage_signing_secret="a-real-signing-secret-of-enough-length!",
        )
