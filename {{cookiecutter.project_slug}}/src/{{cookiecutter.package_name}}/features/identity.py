"""Accounts as the service's own data: the entities of ``IDENTITY_BACKEND=repository`` (users,
sessions, codes) and the login throttle's counters.

Registered whatever identity backend is chosen, so the schema (and Alembic's metadata) does not
depend on a setting; with Cognito the account tables simply stay empty.
"""

from __future__ import annotations

from ..adapters.identity.repository import register_identity_entities
from ..adapters.persistence.registry import EntityRegistry
from ..adapters.throttle import register_throttle_entities
from .feature import Feature


def register(registry: EntityRegistry) -> None:
    register_identity_entities(registry)
    register_throttle_entities(registry)


IDENTITY = Feature(name="identity", register=register)
