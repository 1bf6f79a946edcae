"""Settings a deployment gets wrong: CORS, memory backends in production, the log format."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from {{cookiecutter.package_name}}.settings import Settings

SECRETS: dict[str, object] = {
    "cursor_secret": "c" * 48,
    "jwt_secret": "j" * 48,
    "storage_signing_secret": "s" * 48,
}
SHARED: dict[str, object] = {
    "repo_database": "postgres",
    "identity_backend": "cognito",
    "cognito_user_pool_id": "eu-west-1_abc",
    "cognito_client_id": "client",
}


def settings(**values: object) -> Settings:
    base: dict[str, object] = {
        "_env_file": None,
        **SECRETS,
        "repo_database": "postgres",
        "identity_backend": "memory",
        "allow_memory_backends_in_production": True,
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


# --- CORS --------------------------------------------------------------------------------------


def test_no_cors_origin_by_default() -> None:
    assert Settings(_env_file=None).cors_allow_origins == ()


def test_cors_lists_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("CORS_EXPOSE_HEADERS", '["X-Request-ID"]')

    loaded = Settings(_env_file=None)

    assert loaded.cors_allow_origins == ("https://a.example", "https://b.example")
    assert loaded.cors_expose_headers == ("X-Request-ID",)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_production_refuses_any_origin_with_credentials(environment: str) -> None:
    with pytest.raises(ValidationError, match=r"CORS_ALLOW_ORIGINS=\* with CORS_ALLOW_CREDENTIALS"):
        settings(
            environment=environment,
            cors_allow_origins="https://a.example,*",
            cors_allow_credentials=True,
        )


def test_any_origin_is_accepted_without_credentials_or_outside_production() -> None:
    assert settings(environment="production", cors_allow_origins="*").cors_allow_origins == ("*",)
    local = settings(environment="local", cors_allow_origins="*", cors_allow_credentials=True)
    assert local.cors_allow_credentials
    listed = settings(
        environment="production",
        cors_allow_origins="https://a.example",
        cors_allow_credentials=True,
    )
    assert listed.cors_allow_origins == ("https://a.example",)


# --- scale-out -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo_database", "identity_backend", "refused"),
    [
        ("memory", "cognito", "REPO_DATABASE=memory keep"),
        ("postgres", "memory", "IDENTITY_BACKEND=memory keep"),
        ("memory", "memory", "REPO_DATABASE=memory and IDENTITY_BACKEND=memory keep"),
    ],
)
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_production_refuses_the_memory_backends_unless_allowed(
    environment: str, repo_database: str, identity_backend: str, refused: str
) -> None:
    chosen: dict[str, object] = {
        "environment": environment,
        "repo_database": repo_database,
        "identity_backend": identity_backend,
        "cognito_user_pool_id": "eu-west-1_abc",
        "cognito_client_id": "client",
    }
    with pytest.raises(ValidationError, match=refused) as info:
        settings(**chosen, allow_memory_backends_in_production=False)
    assert "ALLOW_MEMORY_BACKENDS_IN_PRODUCTION=true" in str(info.value)

    allowed = settings(**chosen, allow_memory_backends_in_production=True)
    assert allowed.repo_database.value == repo_database


def test_shared_backends_need_no_permission_and_local_runs_need_none() -> None:
    assert settings(environment="production", **SHARED, allow_memory_backends_in_production=False)
    assert Settings(_env_file=None, environment="local", repo_database="memory")
    assert not Settings(_env_file=None).allow_memory_backends_in_production


# --- logs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "log_format", "json_lines"),
    [
        ("local", "auto", False),
        ("test", "auto", False),
        ("staging", "auto", True),
        ("production", "auto", True),
        ("local", "json", True),
        ("production", "text", False),
    ],
)
def test_log_format_auto_is_json_in_production_only(
    environment: str, log_format: str, json_lines: bool
) -> None:
    assert settings(environment=environment, log_format=log_format).log_json is json_lines


def test_log_level_is_case_insensitive_and_checked() -> None:
    assert settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError):
        settings(log_level="loud")


def test_telemetry_is_off_by_default() -> None:
    defaults = Settings(_env_file=None)
    assert not defaults.otel_enabled
    assert defaults.otel_exporter_otlp_endpoint == "http://localhost:4318"
