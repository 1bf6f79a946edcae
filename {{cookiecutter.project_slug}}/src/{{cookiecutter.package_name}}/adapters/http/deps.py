"""FastAPI dependencies: the HTTP layer's only way to reach the outside world.

The container (``container.py``) builds one :class:`Services` once every adapter has started;
the lifespan (``main.py``) hands it to the app, and ``get_services`` (``services_of(request)``
in code that has the request) is how a route reaches it. The aliases below
(``RepositoriesDep``, ``IdentityProviderDep``...) are that one object's fields, typed by their
ports, each one dependency deep. The HTTP adapter never imports the container, so the layers stay
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
from ...ports.throttle import AttemptLimiter
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
    attempt_limiter: AttemptLimiter
    use_cases: UseCases
    page_sizes: PageSizes
    readiness_checks: Mapping[str, ReadinessCheck]
    readiness_timeout_seconds: float


# ``async def`` dependencies run on the event loop; a plain ``def`` would cost a thread-pool
# hop per request for a field read.
NOT_STARTED = "the service is not started: build the app with create_app() and run its lifespan"


def services_of(request: Request) -> Services:
    """The started ``Services`` of the app serving ``request``."""
    try:
        services = request.app.state.services
    except AttributeError:
        services = None
    if not isinstance(services, Services):
        raise RuntimeError(NOT_STARTED)
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]

# Each accessor reads the request itself rather than depending on ``get_services``: FastAPI
# solves every level of a dependency tree per request, and one level is all a field read needs.


async def get_repositories(request: Request) -> RepositoryProvider:
    return services_of(request).repositories


async def get_identity_provider(request: Request) -> IdentityProvider:
    return services_of(request).identity_provider


async def get_token_verifier(request: Request) -> TokenVerifier:
    return services_of(request).token_verifier


async def get_attempt_limiter(request: Request) -> AttemptLimiter:
    return services_of(request).attempt_limiter


async def get_object_storage(request: Request) -> ObjectStorage:
    return services_of(request).object_storage


async def get_page_sizes(request: Request) -> PageSizes:
    return services_of(request).page_sizes


def use_case[T](kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency giving the application service ``kind``:
    ``Library = Annotated[LibraryService, Depends(use_case(LibraryService))]``."""

    async def dependency(request: Request) -> T:
        return services_of(request).use_cases.get(kind)

    return dependency


RepositoriesDep = Annotated[RepositoryProvider, Depends(get_repositories)]
IdentityProviderDep = Annotated[IdentityProvider, Depends(get_identity_provider)]
TokenVerifierDep = Annotated[TokenVerifier, Depends(get_token_verifier)]
AttemptLimiterDep = Annotated[AttemptLimiter, Depends(get_attempt_limiter)]
ObjectStorageDep = Annotated[ObjectStorage, Depends(get_object_storage)]
PageSizesDep = Annotated[PageSizes, Depends(get_page_sizes)]
