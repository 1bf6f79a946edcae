"""Identity settings: production refusals, list parsing, and the builders' choices."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from {{cookiecutter.package_name}}.adapters.identity.cognito import CognitoIdentityProvider
from {{cookiecutter.package_name}}.adapters.identity.memory import MemorySecurityProvider
from {{cookiecutter.package_name}}.adapters.identity.memory.provider import private_repositories
from {{cookiecutter.package_name}}.adapters.identity.repository import RepositoryIdentityProvider
from {{cookiecutter.package_name}}.adapters.tokens.cognito import CognitoJwtVerifier
from {{cookiecutter.package_name}}.adapters.tokens.hs256 import Hs256TokenVerifier
from {{cookiecutter.package_name}}.builders import get_identity_provider, get_token_verifier
from {{cookiecutter.package_name}}.ports.errors import AuthenticationFailed
from {{cookiecutter.package_name}}.settings import Settings

GOOD_SECRET = "s" * 48
GOOD_SIGNING = "g" * 48


def production(**values: object) -> Settings:
    base: dict[str, object] = {
        "environment": "production",
        "identity_backend": "memory",
        "jwt_secret": GOOD_SECRET,
        "storage_backend": "local",
        "storage_signing_secret": GOOD_SIGNING,
        "cursor_secret": "c" * 48,
        "allow_memory_backends_in_production": True,  # the memory identity: its settings
    }
    base.update(values)
    return Settings.model_validate(base)


@pytest.mark.parametrize("secret", ["change-me", "CHANGE-ME", "secret", "dev-secret", ""])
def test_production_refuses_a_placeholder_jwt_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is a placeholder"):
        production(jwt_secret=secret)


def test_production_refuses_a_short_hs256_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be at least 32 bytes for HS256"):
        production(jwt_secret="only-twenty-chars-xx")


def test_production_refuses_seeded_sandbox_users() -> None:
    with pytest.raises(ValidationError, match="MEMORY_SEED_ROLE_USERS"):
        production(memory_seed_role_users=True)


def test_production_cognito_needs_pool_and_client() -> None:
    with pytest.raises(ValidationError, match="COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"):
        production(identity_backend="cognito")
    settings = production(
        identity_backend="cognito",
        jwt_secret="change-me",  # unused by Cognito, so not refused
        cognito_user_pool_id="eu-west-1_abc",
        cognito_client_id="client",
    )
    assert settings.cognito_effective_region == settings.aws_region


def test_production_accepts_real_secrets() -> None:
    assert production().is_production


def test_local_mode_accepts_the_placeholder() -> None:
    assert Settings.model_validate({"environment": "local", "jwt_secret": "change-me"})


def test_seed_role_codes_parse_from_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMORY_SEED_ROLE_CODES", "admin, operator,auditor")
    monkeypatch.setenv("MEMORY_SEED_ROLE_USERS", "true")
    settings = Settings()
    assert settings.memory_seed_role_codes == ("admin", "operator", "auditor")
    assert settings.memory_seed_role_users is True


def test_builders_build_memory_adapters() -> None:
    settings = Settings.model_validate(
        {"identity_backend": "memory", "jwt_secret": GOOD_SECRET, "environment": "test"}
    )
    assert isinstance(get_identity_provider(settings), MemorySecurityProvider)
    assert isinstance(get_token_verifier(settings), Hs256TokenVerifier)


async def test_builders_build_the_repository_provider_and_a_revoking_verifier() -> None:
    settings = Settings.model_validate(
        {
            "identity_backend": "repository",
            "jwt_secret": GOOD_SECRET,
            "environment": "test",
            "token_revocation_check_seconds": 0,
        }
    )
    identity = get_identity_provider(settings, repositories=private_repositories())
    assert isinstance(identity, RepositoryIdentityProvider)
    assert not isinstance(identity, MemorySecurityProvider)
    verifier = get_token_verifier(settings, identity)
    assert isinstance(verifier, Hs256TokenVerifier)
    await identity.ensure_user("root", "root@example.org", "Str0ng-Passw0rd!")
    tokens = await identity.login("root", "Str0ng-Passw0rd!")
    assert await verifier.verify(tokens.access_token)
    await identity.logout(tokens.access_token)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await verifier.verify(tokens.access_token)


def test_the_repository_provider_outside_the_service_needs_repositories() -> None:
    settings = Settings.model_validate({"identity_backend": "repository"})
    with pytest.raises(RuntimeError, match="running service"):
        get_identity_provider(settings)


def test_production_refuses_a_placeholder_secret_for_the_repository_provider() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is a placeholder"):
        production(identity_backend="repository", repo_database="postgres", jwt_secret="change-me")


def test_builders_build_cognito_adapters_with_the_endpoint_jwks() -> None:
    settings = Settings.model_validate(
        {
            "identity_backend": "cognito",
            "cognito_user_pool_id": "us-east-1_pool",
            "cognito_client_id": "client",
            "cognito_client_secret": "shh",
            "aws_endpoint_url": "http://127.0.0.1:5000",
        }
    )
    assert isinstance(get_identity_provider(settings), CognitoIdentityProvider)
    verifier = get_token_verifier(settings)
    assert isinstance(verifier, CognitoJwtVerifier)
    assert verifier.jwks_url == "http://127.0.0.1:5000/us-east-1_pool/.well-known/jwks.json"


def test_cognito_without_ids_is_a_clear_error() -> None:
    settings = Settings.model_validate({"identity_backend": "cognito"})
    with pytest.raises(ValueError, match="COGNITO_USER_POOL_ID"):
        get_identity_provider(settings)
