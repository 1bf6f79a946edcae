"""The composition root: the only module that knows which adapter serves each port.

One ``Selector`` per port, keyed by a setting. Each branch is a Singleton built by a small
function that imports its adapter lazily, so a service on the memory backend never imports
SQLAlchemy, PyMongo or aioboto3 (start-up time), and swapping a backend is a setting.

The drivers of the backends not chosen when the project was generated are extras
(``postgres``, ``mongo``, ``aws``; ``otel`` for OpenTelemetry): a builder first checks that its
extra is installed, so choosing a backend without it stops the start-up with a message saying
what to install, instead of an ``ImportError`` from deep inside an adapter.

Tests override any provider: ``container.identity_provider.override(providers.Object(x))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dependency_injector import containers, providers

from .adapters.persistence.registry import EntityRegistry, PersistenceBackend, RepositoryProvider
from .application.seeding import ConfigRegistry, SeederProvider
from .features.feature import Feature
from .registrations import FEATURES, build_registry
from .settings import Settings

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
    try:
        EXTRAS[extra]()
    except ImportError as exc:
        raise MissingExtra(
            f"{chosen_by} needs the '{extra}' extra, which is not installed (no module "
            f"{exc.name!r}): pip install '{DISTRIBUTION}[{extra}]', or uv sync --extra {extra}"
        ) from exc


# --- repository backends -----------------------------------------------------------------------


def memory_backend() -> PersistenceBackend:
    from .adapters.persistence.memory.repository import MemoryBackend

    return MemoryBackend()


def postgres_backend(settings: Settings) -> PersistenceBackend:
    require_extra("postgres", "the postgres repository backend")
    from .adapters.persistence.postgres import build_backend

    return build_backend(settings)


def mongo_backend(settings: Settings) -> PersistenceBackend:
    require_extra("mongo", "the mongo repository backend")
    from .adapters.persistence.mongo import build_backend

    return build_backend(settings)


def dynamodb_backend(settings: Settings) -> PersistenceBackend:
    require_extra("aws", "the dynamodb repository backend")
    from .adapters.persistence.dynamodb import build_backend

    return build_backend(settings)


# --- object storage, identity, tokens ----------------------------------------------------------


def local_storage(settings: Settings) -> Any:
    from .adapters.storage.factory import build_local_storage

    return build_local_storage(settings)


def s3_storage(settings: Settings) -> Any:
    require_extra("aws", "STORAGE_BACKEND=s3")
    from .adapters.storage.factory import build_s3_storage

    return build_s3_storage(settings)


def memory_identity(settings: Settings) -> Any:
    from .adapters.identity.factory import build_memory_identity

    return build_memory_identity(settings)


def cognito_identity(settings: Settings) -> Any:
    require_extra("aws", "IDENTITY_BACKEND=cognito")
    from .adapters.identity.factory import build_cognito_identity

    return build_cognito_identity(settings)


def hs256_verifier(settings: Settings) -> Any:
    from .adapters.identity.factory import build_hs256_verifier

    return build_hs256_verifier(settings)


def cognito_verifier(settings: Settings) -> Any:
    from .adapters.identity.factory import build_cognito_verifier

    return build_cognito_verifier(settings)


# --- traces and metrics ------------------------------------------------------------------------


def otel_telemetry(settings: Settings) -> Any:
    """OpenTelemetry when ``OTEL_ENABLED``, else ``None`` (and nothing of it imported)."""
    if not settings.otel_enabled:
        return None
    require_extra("otel", "OTEL_ENABLED=true")
    from .adapters.observability.otel import build_telemetry

    return build_telemetry(settings)


def _choice(settings: Settings, name: str) -> str:
    return str(getattr(settings, name).value)


def _cursor_secret(settings: Settings) -> str:
    return settings.cursor_secret.get_secret_value()


def demo_data(features: tuple[Feature, ...]) -> ConfigRegistry:
    """Every feature's demo records, parents first (in feature order)."""
    config = ConfigRegistry()
    for feature in features:
        if feature.demo_records is not None:
            for entity, records in feature.demo_records().items():
                config.add(entity, records)
    return config


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings)
    features = providers.Object(FEATURES)

    registry: providers.Provider[EntityRegistry] = providers.Singleton(
        build_registry, providers.Callable(_cursor_secret, settings), features
    )

    repository_backend = providers.Selector(
        providers.Callable(_choice, settings, "repo_database"),
        memory=providers.Singleton(memory_backend),
        postgres=providers.Singleton(postgres_backend, settings),
        mongo=providers.Singleton(mongo_backend, settings),
        dynamodb=providers.Singleton(dynamodb_backend, settings),
    )

    repositories = providers.Singleton(
        RepositoryProvider,
        registry=registry,
        # Factories, not instances: an entity may pin another backend ("database" in its
        # registration), and only backends some entity uses are ever built.
        backends=providers.Dict(
            memory=repository_backend.providers["memory"].provider,
            postgres=repository_backend.providers["postgres"].provider,
            mongo=repository_backend.providers["mongo"].provider,
            dynamodb=repository_backend.providers["dynamodb"].provider,
        ),
        default=providers.Callable(_choice, settings, "repo_database"),
    )

    object_storage = providers.Selector(
        providers.Callable(_choice, settings, "storage_backend"),
        local=providers.Singleton(local_storage, settings),
        s3=providers.Singleton(s3_storage, settings),
    )

    identity_provider = providers.Selector(
        providers.Callable(_choice, settings, "identity_backend"),
        memory=providers.Singleton(memory_identity, settings),
        cognito=providers.Singleton(cognito_identity, settings),
    )

    token_verifier = providers.Selector(
        providers.Callable(_choice, settings, "identity_backend"),
        memory=providers.Singleton(hs256_verifier, settings),
        cognito=providers.Singleton(cognito_verifier, settings),
    )

    # Tests override it with a Telemetry of in-memory exporters.
    telemetry = providers.Singleton(otel_telemetry, settings)

    demo_config = providers.Singleton(demo_data, features)
    seeders = providers.Singleton(SeederProvider)


def create_container(
    settings: Settings | None = None, features: tuple[Feature, ...] | None = None
) -> Container:
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    if features is not None:
        container.features.override(providers.Object(features))
    return container
