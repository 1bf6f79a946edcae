"""``MemorySecurityProvider``: the repository provider's flows over a store of its own, in this
process. For tests, demos and a developer's sandbox only: every worker and replica would have
its own accounts, and a restart loses them (production refuses it unless told otherwise).
"""

from __future__ import annotations

from typing import Any

from ...persistence.memory.backend import MemoryBackend
from ...persistence.registry import RepositoryProvider
from ...persistence.specs import EntityRegistry
from ..repository.provider import RepositoryIdentityProvider
from ..repository.records import register_identity_entities


def private_repositories() -> RepositoryProvider:
    """The identity entities on a memory backend nothing else shares."""
    registry = EntityRegistry()
    register_identity_entities(registry)
    backend = MemoryBackend()
    return RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)


class MemorySecurityProvider(RepositoryIdentityProvider):
    """The same flows and guarantees as ``RepositoryIdentityProvider`` (it is one), with the
    accounts in this process. Takes the same keyword arguments, without ``repositories``."""

    def __init__(self, jwt_secret: str, jwt_issuer: str, *args: Any, **options: Any) -> None:
        super().__init__(private_repositories(), jwt_secret, jwt_issuer, *args, **options)
