"""``create_app()``: build the FastAPI service from settings and the container.

The lifespan runs the container (``container.run``: every long-lived client opened once, seeding,
everything closed in reverse order on shutdown) and hands the routes their ``Services``.
Run it with ``uvicorn <package>.main:create_app --factory --no-access-log`` (the service writes
its own access line, with the request id and the route; ``create_app`` turns uvicorn's off
anyway, the flag only saves uvicorn the work).

Around every request, outermost first: FastAPI's OpenTelemetry (when ``OTEL_ENABLED``), then
the middlewares: the request context (request id, access line, unhandled errors), CORS (when
origins are set), the request timeout, the body size limit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from .adapters.http.cors import install_cors
from .adapters.http.errors import APP_ERROR_RESPONSES, install_error_handlers
from .adapters.http.limits import install_limits
from .adapters.http.request_context import install_request_context
from .adapters.http.routers.auth import build_auth_router
from .adapters.http.routers.health import build_health_router
from .adapters.http.routers.storage import build_local_export_storage_router
from .adapters.observability.logging import configure_logging
from .adapters.persistence.registry import activate
from .adapters.storage.local import DEFAULT_ROUTE_PATH
from .container import Container, create_container, run
from .features.feature import Feature
from .settings import Settings, StorageBackend

logger = logging.getLogger(__name__)

TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    features: tuple[Feature, ...] | None = None,
) -> FastAPI:
    """The service. ``features`` replaces ``registrations.FEATURES`` (tests run the kit on
    features of their own)."""
    container = container or create_container(settings, features)
    settings = container.settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    telemetry = container.telemetry()  # None unless OTEL_ENABLED

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with run(container) as services:
            # persistence-kit's get_repo()/get_repo_view(): module-level by that API's design
            activate(services.repositories)
            app.state.services = services
            logger.info(
                "started: repository=%s storage=%s identity=%s",
                settings.repo_database.value,
                settings.storage_backend.value,
                settings.identity_backend.value,
            )
            try:
                yield
            finally:
                del app.state.services
                activate(None)

    app = FastAPI(
        title=settings.app_title,
        description="{{ cookiecutter.description }}",
        version="0.1.0",
        lifespan=lifespan,
        responses=APP_ERROR_RESPONSES,  # 413, 422, 503: any route may answer them
        # FastAPI's own OpenTelemetry: on the service's providers, or off (even when some other
        # code of the process configured global providers)
        telemetry=telemetry.fastapi_config() if telemetry is not None else TELEMETRY_OFF,
    )
    install_error_handlers(app)
    install_limits(
        app,
        max_body_bytes=settings.max_request_body_bytes,
        timeout_seconds=settings.request_timeout_seconds,
        # the local upload route streams up to STORAGE_MAX_UPLOAD_BYTES itself
        body_limit_exempt=(DEFAULT_ROUTE_PATH,),
    )
    install_cors(
        app,
        allow_origins=settings.cors_allow_origins,
        allow_credentials=settings.cors_allow_credentials,
        allow_methods=settings.cors_allow_methods,
        allow_headers=settings.cors_allow_headers,
        expose_headers=settings.cors_expose_headers,
        max_age=settings.cors_max_age_seconds,
    )
    install_request_context(  # last: the outermost of the service's middlewares
        app,
        access_log=settings.access_log,
        on_request_id=telemetry.tag_request if telemetry is not None else None,
    )
    app.include_router(build_health_router())
    app.include_router(build_auth_router())
    registry = container.registry()
    for feature in container.features():
        if feature.router is not None:
            app.include_router(feature.router(registry))
    if settings.storage_backend is StorageBackend.LOCAL:
        app.include_router(
            build_local_export_storage_router(max_upload_bytes=settings.storage_max_upload_bytes)
        )
    return app
