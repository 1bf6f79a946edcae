"""FastAPI dependencies: the HTTP layer's only way to reach the outside world.

The container (``container.py``) builds one :class:`Services` once every adapter has started;
the lifespan (``main.py``) hands it to the app, and ``get_services`` is how a route reaches it.
The aliases below (``RepositoriesDep``, ``IdentityProviderDep``...) are that one object's
fields, typed by their ports. The HTTP adapter never imports the container, so the layers stay
one-way; tests replace a port by overriding the container's provider, before the app starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ...application.use_cases import UseCases
from ...ports.identity import IdentityProvider, TokenVerifier
from ...ports.storage import ObjectStorage
from ..persistence.registry import RepositoryProvider

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PageSizes:
    """``limit`` of list routes: the default and the largest accepted."""

    default: int
    maximum: int


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes use: the started adapters, the use cases and the few values routes need
    (plain values, not the app's ``Settings``)."""

    repositories: RepositoryProvider
    object_storage: ObjectStorage
    identity_provider: IdentityProvider
    token_verifier: TokenVerifier
    use_cases: UseCases
    page_sizes: PageSizes
    readiness_checks: Mapping[str, ReadinessCheck]
    readiness_timeout_seconds: float


# ``async def`` dependencies run on the event loop; a plain ``def`` would cost a thread-pool
# hop per request for a field read.
NOT_STARTED = "the service is not started: build the app with create_app() and run its lifespan"


async def get_services(request: Request) -> Services:
    try:
        services = request.app.state.services
    except AttributeError:
        services = None
    if not isinstance(services, Services):
        raise RuntimeError(NOT_STARTED)
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_repositories(services: ServicesDep) -> RepositoryProvider:
    return services.repositories


async def get_identity_provider(services: ServicesDep) -> IdentityProvider:
    return services.identity_provider


async def get_token_verifier(services: ServicesDep) -> TokenVerifier:
    return services.token_verifier


async def get_object_storage(services: ServicesDep) -> ObjectStorage:
    return services.object_storage


async def get_page_sizes(services: ServicesDep) -> PageSizes:
    return services.page_sizes


def use_case[T](kind: type[T]) -> Callable[[Services], Awaitable[T]]:
    """A dependency giving the application service ``kind``:
    ``Library = Annotated[LibraryService, Depends(use_case(LibraryService))]``."""

    async def dependency(services: ServicesDep) -> T:
        return services.use_cases.get(kind)

    return dependency


RepositoriesDep = Annotated[RepositoryProvider, Depends(get_repositories)]
IdentityProviderDep = Annotated[IdentityProvider, Depends(get_identity_provider)]
TokenVerifierDep = Annotated[TokenVerifier, Depends(get_token_verifier)]
ObjectStorageDep = Annotated[ObjectStorage, Depends(get_object_storage)]
PageSizesDep = Annotated[PageSizes, Depends(get_page_sizes)]
