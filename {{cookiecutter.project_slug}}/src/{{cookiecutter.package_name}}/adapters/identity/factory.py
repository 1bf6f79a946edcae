"""Build the identity provider and the token verifier that ``IDENTITY_BACKEND`` selects.

``get_identity_provider`` / ``get_token_verifier`` keep persistence-kit's names; the
``build_*`` functions are one branch each (the container's ``Selector`` uses them).

Both objects are long-lived: build them once, ``await x.start()`` in the lifespan and
``await x.close()`` on shutdown (every adapter has both methods, no-ops where nothing is open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from pydantic import SecretStr

from ...settings import IdentityBackend, PersistenceKitSettings
from ..tokens.hs256 import Hs256TokenVerifier
from .memory import CodeSink, MemorySecurityProvider, discard_code_sink, logging_code_sink

if TYPE_CHECKING:
    # Imported where they are built: aioboto3 (Cognito) and the JWKS client take over a second
    # to import, which a service on the memory provider should not pay at start-up.
    from ..tokens.cognito import CognitoJwtVerifier
    from .cognito import CognitoIdentityProvider


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _cognito_ids(settings: PersistenceKitSettings) -> tuple[str, str]:
    if not settings.cognito_user_pool_id or not settings.cognito_client_id:
        raise ValueError(
            "IDENTITY_BACKEND=cognito needs COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"
        )
    return settings.cognito_user_pool_id, settings.cognito_client_id


def build_memory_identity(
    settings: PersistenceKitSettings, *, code_sink: CodeSink | None = None
) -> MemorySecurityProvider:
    """``code_sink`` receives confirmation/reset codes and generated seed passwords; by default
    they are logged outside production and discarded in production."""
    sink = code_sink or (discard_code_sink if settings.is_production else logging_code_sink)
    return MemorySecurityProvider(
        jwt_secret=settings.jwt_secret.get_secret_value(),
        jwt_issuer=settings.jwt_issuer,
        jwt_audience=settings.jwt_audience,
        access_token_ttl_seconds=settings.access_token_ttl_seconds,
        refresh_token_ttl_seconds=settings.refresh_token_ttl_seconds,
        leeway_seconds=settings.jwt_leeway_seconds,
        code_sink=sink,
        confirmation_code_ttl_seconds=settings.confirmation_code_ttl_seconds,
        reset_code_ttl_seconds=settings.password_reset_code_ttl_seconds,
        max_code_attempts=settings.max_code_attempts,
        seed_role_users=settings.memory_seed_role_users,
        seed_role_codes=settings.memory_seed_role_codes,
        seed_user_domain=settings.memory_seed_user_domain,
        seed_password=_secret(settings.memory_seed_password),
        password_hasher=PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        ),
    )


def build_cognito_identity(settings: PersistenceKitSettings) -> CognitoIdentityProvider:
    from .cognito import CognitoIdentityProvider

    pool_id, client_id = _cognito_ids(settings)
    return CognitoIdentityProvider(
        user_pool_id=pool_id,
        client_id=client_id,
        client_secret=_secret(settings.cognito_client_secret),
        region=settings.cognito_effective_region,
        endpoint_url=settings.cognito_effective_endpoint_url,
        aws_access_key_id=_secret(settings.aws_access_key_id),
        aws_secret_access_key=_secret(settings.aws_secret_access_key),
        read_timeout_seconds=settings.request_timeout_seconds,
    )


def build_hs256_verifier(settings: PersistenceKitSettings) -> Hs256TokenVerifier:
    return Hs256TokenVerifier(
        settings.jwt_secret.get_secret_value(),
        settings.jwt_issuer,
        settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
    )


def build_cognito_verifier(settings: PersistenceKitSettings) -> CognitoJwtVerifier:
    from ..tokens.cognito import CognitoJwtVerifier

    pool_id, client_id = _cognito_ids(settings)
    return CognitoJwtVerifier(
        region=settings.cognito_effective_region,
        user_pool_id=pool_id,
        client_ids=client_id,
        token_use=settings.cognito_token_use,
        leeway_seconds=settings.jwt_leeway_seconds,
        jwks_url=settings.cognito_effective_jwks_url,
        jwks_ttl_seconds=settings.jwks_cache_ttl_seconds,
        min_refresh_interval_seconds=settings.jwks_min_refresh_interval_seconds,
        timeout_seconds=settings.request_timeout_seconds,
    )


def get_identity_provider(
    settings: PersistenceKitSettings, *, code_sink: CodeSink | None = None
) -> MemorySecurityProvider | CognitoIdentityProvider:
    if settings.identity_backend is IdentityBackend.COGNITO:
        return build_cognito_identity(settings)
    return build_memory_identity(settings, code_sink=code_sink)


def get_token_verifier(
    settings: PersistenceKitSettings,
) -> Hs256TokenVerifier | CognitoJwtVerifier:
    if settings.identity_backend is IdentityBackend.COGNITO:
        return build_cognito_verifier(settings)
    return build_hs256_verifier(settings)
