"""Settings to adapters: one function per adapter a setting may choose (the container's
``Selector`` branches). The only place that reads settings for an adapter; adapters take plain
values, never the ``Settings`` object.

Each function imports its adapter when it is called, never at module level: a service on the
memory backend, local storage and the memory identity never imports SQLAlchemy, PyMongo,
aioboto3, the Cognito and JWKS clients or OpenTelemetry (start-up time: docs/performance.md).
Each returns the port it serves (a ``Protocol`` of ``ports/``, or ``PersistenceBackend``), so
mypy checks every adapter against its port here.

The drivers of the backends not chosen when the project was generated are extras
(``postgres``, ``mongo``, ``aws``; ``otel`` for OpenTelemetry): a builder first checks that its
extra is installed (:func:`require_extra`), so choosing a backend without it stops the start-up
with a message saying what to install, instead of an ``ImportError`` from deep inside an adapter.

persistence-kit's names are here too: ``build_object_storage``, ``get_export_storage`` (cached)
and ``clear_export_storage_cache``, ``get_identity_provider`` and ``get_token_verifier``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .adapters.persistence.registry import PersistenceBackend, RepositoryProvider
from .ports.identity import IdentityProvider, TokenRevocations, TokenVerifier
from .ports.messages import MessageSender
from .ports.storage import ObjectStorage
from .ports.throttle import AttemptLimiter, Scope, ThrottlePolicy
from .settings import IdentityBackend, PersistenceKitSettings, StorageBackend

if TYPE_CHECKING:
    from .adapters.identity.repository import RepositorySource
    from .adapters.observability.otel import Telemetry, TelemetryOptions

# --- extras ------------------------------------------------------------------------------------

DISTRIBUTION = "{{ cookiecutter.project_slug }}"

# What each extra brings that its adapters import (pyproject.toml lists the packages). Imports,
# not names: the missing module's name comes from the ImportError.


def _postgres_drivers() -> None:
    import asyncpg  # noqa: F401
    import sqlalchemy.ext.asyncio  # noqa: F401


def _mongo_drivers() -> None:
    import pymongo  # noqa: F401


def _aws_drivers() -> None:
    import aioboto3  # noqa: F401
    import botocore  # noqa: F401


def _otel_packages() -> None:
    import opentelemetry.exporter.otlp.proto.http
    import opentelemetry.sdk  # noqa: F401


EXTRAS: dict[str, Callable[[], None]] = {
    "postgres": _postgres_drivers,
    "mongo": _mongo_drivers,
    "aws": _aws_drivers,
    "otel": _otel_packages,
}


class MissingExtra(RuntimeError):
    """A setting chose an adapter whose driver is not installed."""


def require_extra(extra: str, chosen_by: str) -> None:
    """Raise :class:`MissingExtra`, naming what to install, unless ``extra`` is installed."""
    try:
        EXTRAS[extra]()
    except ImportError as exc:
        raise MissingExtra(
            f"{chosen_by} needs the '{extra}' extra, which is not installed (no module "
            f"{exc.name!r}): pip install '{DISTRIBUTION}[{extra}]', or uv sync --extra {extra}"
        ) from exc


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


# --- repository backends -----------------------------------------------------------------------


def memory_backend() -> PersistenceBackend:
    """The in-process backend of ``REPO_DATABASE=memory`` (it has no settings)."""
    from .adapters.persistence.memory.repository import MemoryBackend

    return MemoryBackend()


def postgres_backend(settings: PersistenceKitSettings) -> PersistenceBackend:
    """The SQLAlchemy + asyncpg backend of ``REPO_DATABASE=postgres``."""
    require_extra("postgres", "the postgres repository backend")
    from .adapters.persistence.postgres import PostgresBackend

    return PostgresBackend(
        settings.postgres_url,
        pool_size=settings.postgres_pool_size,
        max_overflow=settings.postgres_max_overflow,
        pool_timeout=settings.postgres_pool_timeout_seconds,
        statement_timeout_ms=settings.postgres_statement_timeout_ms,
        echo=settings.postgres_echo,
    )


def mongo_backend(settings: PersistenceKitSettings) -> PersistenceBackend:
    """The PyMongo backend of ``REPO_DATABASE=mongo``."""
    require_extra("mongo", "the mongo repository backend")
    from .adapters.persistence.mongo import MongoBackend

    return MongoBackend(
        settings.mongo_dsn,
        settings.mongo_db,
        timeout_ms=settings.mongo_timeout_ms,
        transactions=settings.mongo_transactions,
    )


def dynamodb_backend(settings: PersistenceKitSettings) -> PersistenceBackend:
    """The aioboto3 backend of ``REPO_DATABASE=dynamodb`` (also the provisioning command's)."""
    require_extra("aws", "the dynamodb repository backend")
    from .adapters.persistence.dynamodb import DynamoDbBackend

    return DynamoDbBackend(
        region=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url or settings.aws_endpoint_url,
        table_prefix=settings.dynamodb_table_prefix,
        aws_access_key_id=_secret(settings.aws_access_key_id),
        aws_secret_access_key=_secret(settings.aws_secret_access_key),
        data_expiration_days=settings.data_expiration_days,
    )


# --- object storage ----------------------------------------------------------------------------


def local_storage(settings: PersistenceKitSettings) -> ObjectStorage:
    """Files under ``LOCAL_STORAGE_DIR`` with HMAC-signed URLs (``STORAGE_BACKEND=local``)."""
    from .adapters.storage.local import LocalObjectStorage

    return LocalObjectStorage(
        settings.local_storage_dir,
        settings.public_base_url,
        settings.storage_signing_secret.get_secret_value(),
        default_expires_in=settings.presigned_url_ttl_seconds,
    )


def s3_storage(settings: PersistenceKitSettings) -> ObjectStorage:
    """The bucket ``S3_BUCKET`` through aioboto3 (``STORAGE_BACKEND=s3``)."""
    require_extra("aws", "STORAGE_BACKEND=s3")
    from .adapters.storage.s3 import S3ObjectStorage

    return S3ObjectStorage(
        settings.s3_bucket,
        region=settings.aws_region,
        endpoint_url=settings.s3_effective_endpoint_url,
        aws_access_key_id=_secret(settings.aws_access_key_id),
        aws_secret_access_key=_secret(settings.aws_secret_access_key),
        default_expires_in=settings.presigned_url_ttl_seconds,
    )


def build_object_storage(settings: PersistenceKitSettings) -> ObjectStorage:
    """A new adapter for ``STORAGE_BACKEND`` (persistence-kit's name)."""
    if settings.storage_backend is StorageBackend.S3:
        return s3_storage(settings)
    return local_storage(settings)


_storage_cache: dict[tuple[object, ...], ObjectStorage] = {}
_storage_cache_lock = threading.Lock()


def get_export_storage(settings: PersistenceKitSettings) -> ObjectStorage:
    """The adapter for these storage settings, built once and cached (persistence-kit's name).

    The caller owns its lifecycle: ``await storage.start()`` before use, ``await
    storage.close()`` at shutdown."""
    key = _storage_cache_key(settings)
    with _storage_cache_lock:
        storage = _storage_cache.get(key)
        if storage is None:
            storage = _storage_cache[key] = build_object_storage(settings)
        return storage


def clear_export_storage_cache() -> None:
    """Forget the adapters :func:`get_export_storage` built (persistence-kit's name)."""
    with _storage_cache_lock:
        _storage_cache.clear()


def _storage_cache_key(settings: PersistenceKitSettings) -> tuple[object, ...]:
    return (
        settings.storage_backend,
        settings.local_storage_dir,
        settings.public_base_url,
        settings.storage_signing_secret.get_secret_value(),
        settings.s3_bucket,
        settings.aws_region,
        settings.s3_effective_endpoint_url,
        _secret(settings.aws_access_key_id),
        _secret(settings.aws_secret_access_key),
        settings.presigned_url_ttl_seconds,
    )


# --- identity and tokens -----------------------------------------------------------------------


def message_sender(settings: PersistenceKitSettings) -> MessageSender:
    """Where codes and notices to account owners go: the log (with the codes only outside
    production). Replace it with your mail or SMS adapter (``ports/messages.py``)."""
    from .adapters.messages import LoggingMessageSender

    return LoggingMessageSender(reveal_codes=not settings.is_production)


def _account_options(settings: PersistenceKitSettings, messages: MessageSender) -> dict[str, Any]:
    """What the repository and memory providers share: tokens, codes, argon2 cost."""
    from argon2 import PasswordHasher

    return {
        "jwt_secret": settings.jwt_secret.get_secret_value(),
        "jwt_issuer": settings.jwt_issuer,
        "jwt_audience": settings.jwt_audience,
        "access_token_ttl_seconds": settings.access_token_ttl_seconds,
        "refresh_token_ttl_seconds": settings.refresh_token_ttl_seconds,
        "refresh_grace_seconds": settings.refresh_token_grace_seconds,
        "leeway_seconds": settings.jwt_leeway_seconds,
        "messages": messages,
        "confirmation_code_ttl_seconds": settings.confirmation_code_ttl_seconds,
        "reset_code_ttl_seconds": settings.password_reset_code_ttl_seconds,
        "max_code_attempts": settings.max_code_attempts,
        "seed_role_users": settings.memory_seed_role_users,
        "seed_role_codes": settings.memory_seed_role_codes,
        "seed_user_domain": settings.memory_seed_user_domain,
        "seed_password": _secret(settings.memory_seed_password),
        "password_hasher": PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        ),
    }


def repository_identity(
    settings: PersistenceKitSettings,
    repositories: RepositorySource,
    messages: MessageSender | None = None,
) -> IdentityProvider:
    """``IDENTITY_BACKEND=repository``: accounts stored through the service's repositories
    (argon2id, HS256 tokens), shared by every worker and replica."""
    from .adapters.identity.repository import RepositoryIdentityProvider

    options = _account_options(settings, messages or message_sender(settings))
    return RepositoryIdentityProvider(repositories, **options)


def memory_identity(
    settings: PersistenceKitSettings, messages: MessageSender | None = None
) -> IdentityProvider:
    """``IDENTITY_BACKEND=memory``: the same flows with the accounts in this process (tests,
    demos)."""
    from .adapters.identity.memory import MemorySecurityProvider

    options = _account_options(settings, messages or message_sender(settings))
    return MemorySecurityProvider(**options)


def cognito_identity(
    settings: PersistenceKitSettings, messages: MessageSender | None = None
) -> IdentityProvider:
    """The Cognito user pool of ``IDENTITY_BACKEND=cognito``, through aioboto3. Cognito sends
    its own codes; ``messages`` gets the adapter's notices (a taken username's owner)."""
    require_extra("aws", "IDENTITY_BACKEND=cognito")
    from .adapters.identity.cognito import CognitoIdentityProvider

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
        messages=messages or message_sender(settings),
    )


def hs256_verifier(
    settings: PersistenceKitSettings, identity: IdentityProvider | None = None
) -> TokenVerifier:
    """The verifier of the repository and memory providers' HS256 tokens. Given the provider,
    it also refuses revoked tokens (``TOKEN_REVOCATION_CHECK_SECONDS``)."""
    from .adapters.tokens.hs256 import Hs256TokenVerifier

    return Hs256TokenVerifier(
        settings.jwt_secret.get_secret_value(),
        settings.jwt_issuer,
        settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        revocations=identity if isinstance(identity, TokenRevocations) else None,
        revocation_check_seconds=settings.token_revocation_check_seconds,
    )


def cognito_verifier(settings: PersistenceKitSettings) -> TokenVerifier:
    """Cognito's RS256 tokens, checked against the pool's JWKS (``IDENTITY_BACKEND=cognito``)."""
    from .adapters.tokens.cognito import CognitoJwtVerifier

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


def _cognito_ids(settings: PersistenceKitSettings) -> tuple[str, str]:
    if not settings.cognito_user_pool_id or not settings.cognito_client_id:
        raise ValueError(
            "IDENTITY_BACKEND=cognito needs COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"
        )
    return settings.cognito_user_pool_id, settings.cognito_client_id


def get_identity_provider(
    settings: PersistenceKitSettings,
    *,
    messages: MessageSender | None = None,
    repositories: RepositorySource | None = None,
) -> IdentityProvider:
    """A new provider for ``IDENTITY_BACKEND`` (persistence-kit's name). The repository
    provider stores through ``repositories``, by default the running service's (``activate``)."""
    if settings.identity_backend is IdentityBackend.COGNITO:
        return cognito_identity(settings, messages)
    if settings.identity_backend is IdentityBackend.REPOSITORY:
        if repositories is None:
            from .adapters.persistence.persistence_kit import active_provider

            repositories = active_provider("get_identity_provider()")
        return repository_identity(settings, repositories, messages)
    return memory_identity(settings, messages)


def get_token_verifier(
    settings: PersistenceKitSettings, identity: IdentityProvider | None = None
) -> TokenVerifier:
    """A new token verifier for ``IDENTITY_BACKEND`` (persistence-kit's name); given the
    provider, HS256 tokens are also checked for revocation."""
    if settings.identity_backend is IdentityBackend.COGNITO:
        return cognito_verifier(settings)
    return hs256_verifier(settings, identity)


# --- attempt limits ----------------------------------------------------------------------------


def throttle_policies(settings: PersistenceKitSettings) -> dict[Scope, ThrottlePolicy]:
    """Each throttle scope's policy: its own maximum, the shared window and locks."""

    def policy(max_attempts: int) -> ThrottlePolicy:
        return ThrottlePolicy(
            max_attempts=max_attempts,
            window_seconds=settings.throttle_window_seconds,
            lock_seconds=settings.throttle_lock_seconds,
            max_lock_seconds=settings.throttle_max_lock_seconds,
        )

    return {
        Scope.LOGIN_ACCOUNT: policy(settings.login_max_attempts_per_account),
        Scope.LOGIN_ADDRESS: policy(settings.login_max_attempts_per_address),
        Scope.CODE_ACCOUNT: policy(settings.code_max_attempts_per_account),
        Scope.CODE_ADDRESS: policy(settings.code_max_attempts_per_address),
        Scope.CODE_REQUEST_ACCOUNT: policy(settings.code_requests_per_account),
        Scope.CODE_REQUEST_ADDRESS: policy(settings.code_requests_per_address),
        Scope.REGISTER_ADDRESS: policy(settings.registrations_per_address),
    }


def auth_attempt_limiter(
    settings: PersistenceKitSettings, repositories: RepositoryProvider
) -> AttemptLimiter:
    """The /auth throttle: counters stored through ``repositories`` (so shared by every process
    on the same database), named by a digest keyed with ``CURSOR_SECRET``; or nothing at all
    with ``THROTTLE_ENABLED=false``. An app whose features do not register the counters
    (``features/identity.py`` does) counts in this process only, and production refuses it."""
    from .adapters.throttle import RepositoryAttemptLimiter, UnlimitedAttempts, counter_source

    if not settings.throttle_enabled:
        return UnlimitedAttempts()
    return RepositoryAttemptLimiter(
        counter_source(repositories, allow_private=not settings.is_production),
        throttle_policies(settings),
        key_secret=settings.cursor_secret.get_secret_value(),
    )


# --- traces and metrics ------------------------------------------------------------------------


def telemetry_options(settings: PersistenceKitSettings) -> TelemetryOptions:
    """What :class:`Telemetry` reads from ``SERVICE_NAME``, ``ENVIRONMENT`` and ``OTEL_*``."""
    from .adapters.observability.otel import TelemetryOptions

    return TelemetryOptions(
        service_name=settings.service_name,
        environment=settings.environment.value,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        traces_sample_ratio=settings.otel_traces_sample_ratio,
        metric_export_interval_ms=settings.otel_metric_export_interval_ms,
    )


def otel_telemetry(settings: PersistenceKitSettings) -> Telemetry | None:
    """OpenTelemetry when ``OTEL_ENABLED``, else ``None`` (and nothing of it imported)."""
    if not settings.otel_enabled:
        return None
    require_extra("otel", "OTEL_ENABLED=true")
    from .adapters.observability.otel import Telemetry

    return Telemetry(telemetry_options(settings))
