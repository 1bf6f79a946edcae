"""The composition root: the only module that knows which adapter serves each port.

One ``Selector`` per port, keyed by a setting. Each branch is a Singleton built by a function of
``builders.py``, which turns the settings into the adapter's plain values and imports the
adapter lazily, so a service on the memory backend never imports SQLAlchemy, PyMongo or
aioboto3 (start-up time), and swapping a backend is a setting. Each builder returns the port it
serves (a ``Protocol`` of ``ports/``), so mypy checks every adapter against its port.

The container owns every long-lived object: ``run(container)`` starts them in order (telemetry,
repositories, storage, identity, token verifier), seeds, yields the routes' ``Services`` and
closes everything in reverse order, also when a start fails half way. Every adapter follows
``ports/lifecycle.py`` (``start``/``close``/``ping``), so nothing is probed for methods.

A backend whose driver (an extra) is not installed stops the start-up with a message saying
what to install (``builders.require_extra``).

Tests override any provider before the app starts:
``container.identity_provider.override(providers.Object(x))``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

from dependency_injector import containers, providers

from .adapters.http.deps import PageSizes, ReadinessCheck, Services
from .adapters.persistence.registry import EntityRegistry, RepositoryProvider
from .application.admin import admin_seeder
from .application.seeding import ConfigRegistry, SeederProvider, upsert_seeder
from .application.use_cases import UseCases
from .builders import (
    auth_attempt_limiter,
    cognito_identity,
    cognito_verifier,
    dynamodb_backend,
    hs256_verifier,
    local_storage,
    memory_backend,
    memory_identity,
    message_sender,
    mongo_backend,
    otel_telemetry,
    postgres_backend,
    repository_identity,
    s3_storage,
)
from .features.feature import Feature
from .ports.identity import IdentityProvider
from .ports.storage import ObjectStorage
from .registrations import FEATURES, build_registry
from .settings import Settings


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


def build_use_cases(features: tuple[Feature, ...], repositories: RepositoryProvider) -> UseCases:
    """Every feature's application services, built once."""
    return UseCases(
        service
        for feature in features
        if feature.use_cases is not None
        for service in feature.use_cases(repositories)
    )


def build_seeders(
    settings: Settings,
    identity: IdentityProvider,
    repositories: RepositoryProvider,
    demo: ConfigRegistry,
) -> SeederProvider:
    """What start-up seeds, idempotently: the first administrator, then the demo data."""
    provider = SeederProvider()
    if settings.admin_email and settings.admin_password:
        provider.register(
            "admin user",
            admin_seeder(
                identity,
                settings.admin_email,
                settings.admin_password.get_secret_value(),
                roles=("admin", *settings.seed_roles),
            ),
        )
    if settings.seed_demo_data:
        provider.register("demo data", upsert_seeder(repositories.repo, demo))
    return provider


def build_readiness_checks(
    repositories: RepositoryProvider, storage: ObjectStorage, identity: IdentityProvider
) -> Mapping[str, ReadinessCheck]:
    return {"repositories": repositories.ping, "storage": storage.ping, "identity": identity.ping}


READINESS_TIMEOUT_SECONDS = 2.0


def readiness_timeout(settings: Settings) -> float:
    """Within the request timeout, so a slow backend gets readiness's own 503 body."""
    limit = settings.request_timeout_seconds
    return min(READINESS_TIMEOUT_SECONDS, limit / 2) if limit else READINESS_TIMEOUT_SECONDS


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

    # Codes and notices to account owners (ports/messages.py): swap in a mail adapter here.
    messages = providers.Singleton(message_sender, settings)

    identity_provider = providers.Selector(
        providers.Callable(_choice, settings, "identity_backend"),
        repository=providers.Singleton(repository_identity, settings, repositories, messages),
        memory=providers.Singleton(memory_identity, settings, messages),
        cognito=providers.Singleton(cognito_identity, settings, messages),
    )

    token_verifier = providers.Selector(
        providers.Callable(_choice, settings, "identity_backend"),
        repository=providers.Singleton(hs256_verifier, settings, identity_provider),
        memory=providers.Singleton(hs256_verifier, settings, identity_provider),
        cognito=providers.Singleton(cognito_verifier, settings),
    )

    # The /auth throttle: counters on the repository backend (ports/throttle.py).
    attempt_limiter = providers.Singleton(auth_attempt_limiter, settings, repositories)

    # Tests override it with a Telemetry of in-memory exporters.
    telemetry = providers.Singleton(otel_telemetry, settings)

    demo_config = providers.Singleton(demo_data, features)
    seeders = providers.Singleton(
        build_seeders, settings, identity_provider, repositories, demo_config
    )

    use_cases = providers.Singleton(build_use_cases, features, repositories)

    # What the routes reach (adapters/http/deps.py): ask for it once ``run`` has started.
    services = providers.Singleton(
        Services,
        repositories=repositories,
        object_storage=object_storage,
        identity_provider=identity_provider,
        token_verifier=token_verifier,
        attempt_limiter=attempt_limiter,
        use_cases=use_cases,
        page_sizes=providers.Factory(
            PageSizes,
            default=settings.provided.default_page_size,
            maximum=settings.provided.max_page_size,
        ),
        readiness_checks=providers.Callable(
            build_readiness_checks, repositories, object_storage, identity_provider
        ),
        readiness_timeout_seconds=providers.Callable(readiness_timeout, settings),
    )


def create_container(
    settings: Settings | None = None, features: tuple[Feature, ...] | None = None
) -> Container:
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    if features is not None:
        container.features.override(providers.Object(features))
    return container


@asynccontextmanager
async def run(container: Container) -> AsyncIterator[Services]:
    """Start every long-lived object, seed, and give the routes' ``Services``; on the way out
    close what was started, in reverse order (also when a start or a seeder fails)."""
    settings = container.settings()
    async with AsyncExitStack() as stack:
        telemetry = container.telemetry()
        if telemetry is not None:  # before any client opens: the drivers get instrumented
            telemetry.start()
            stack.callback(telemetry.shutdown)
        repositories = container.repositories()
        await repositories.start(create_schema=settings.create_schema_on_startup)
        stack.push_async_callback(repositories.close)
        adapters = (container.object_storage(), container.identity_provider())
        for adapter in (*adapters, container.token_verifier()):
            await adapter.start()
            stack.push_async_callback(adapter.close)
        await container.seeders().run_all()
        yield container.services()
