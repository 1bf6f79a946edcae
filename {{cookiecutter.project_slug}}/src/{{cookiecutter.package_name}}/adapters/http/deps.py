"""FastAPI dependencies: the HTTP layer's only way to reach the outside world.

The composition root (``main.py`` + ``container.py``) resolves every long-lived object once in
the lifespan and puts it on ``app.state``; these functions hand them to routes. The HTTP adapter
never imports the container, so the layers stay one-way.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request

from ...ports.identity import IdentityProvider, TokenVerifier
from ...ports.storage import ObjectStorage
from ...settings import Settings
from ..persistence.registry import RepositoryProvider


def _state(request: Request, name: str) -> Any:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise RuntimeError(f"app.state.{name} is not set: was the app built by create_app()?")
    return value


def get_settings(request: Request) -> Settings:
    return cast(Settings, _state(request, "settings"))


def get_repositories(request: Request) -> RepositoryProvider:
    return cast(RepositoryProvider, _state(request, "repositories"))


def get_identity_provider(request: Request) -> IdentityProvider:
    return cast(IdentityProvider, _state(request, "identity_provider"))


def get_token_verifier(request: Request) -> TokenVerifier:
    return cast(TokenVerifier, _state(request, "token_verifier"))


def get_object_storage(request: Request) -> ObjectStorage:
    return cast(ObjectStorage, _state(request, "object_storage"))


SettingsDep = Annotated[Settings, Depends(get_settings)]
RepositoriesDep = Annotated[RepositoryProvider, Depends(get_repositories)]
IdentityProviderDep = Annotated[IdentityProvider, Depends(get_identity_provider)]
TokenVerifierDep = Annotated[TokenVerifier, Depends(get_token_verifier)]
ObjectStorageDep = Annotated[ObjectStorage, Depends(get_object_storage)]
