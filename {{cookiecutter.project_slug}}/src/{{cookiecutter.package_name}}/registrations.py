"""The features this service runs, and the registry built from them.

Every backend (tables, collections, DynamoDB tables and GSIs, Alembic metadata) is derived
from what the features register. Add a feature: one module in ``features/`` and one line here.
"""

from __future__ import annotations

from .adapters.persistence.registry import EntityRegistry, ensure_registry_initialized
from .features.feature import Feature
from .features.identity import IDENTITY
from .features.library import LIBRARY  # the example: see docs/removing-the-example.md

FEATURES: tuple[Feature, ...] = (IDENTITY, LIBRARY)


def build_registry(
    cursor_secret: str | None = None, features: tuple[Feature, ...] = FEATURES
) -> EntityRegistry:
    """Every feature's entities, with page cursors signed by ``cursor_secret`` (random when
    None)."""
    registry = EntityRegistry(cursor_secret)
    for feature in features:
        feature.register(registry)
    for spec in ensure_registry_initialized():  # persistence-kit's register_entity(...)
        registry.register(spec.name, spec)
    return registry
