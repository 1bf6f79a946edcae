"""Which entities this service persists, and how: the one place to declare a new entity.

Every backend (tables, collections, DynamoDB tables and GSIs, Alembic metadata) is derived
from what is registered here.
"""

from __future__ import annotations

from .adapters.persistence.registry import EntityRegistry
from .domain.library import Author, Book, Publisher


def register_defaults(registry: EntityRegistry) -> EntityRegistry:
    registry.register(
        "publisher",
        {
            "entity": Publisher,
            "collection": "publishers",
            "unique": {"name": "name"},
            "relations": {"authors": {"target": "author", "target_field": "publisher_id"}},
        },
    )
    registry.register(
        "author",
        {
            "entity": Author,
            "collection": "authors",
            "unique": {"email": "email"},
            "indexes": ["publisher_id"],
            "relations": {
                # Enforced by the backend: an author's publisher exists, and a publisher
                # with authors cannot be deleted (PostgreSQL: a foreign key).
                "publisher": {
                    "target": "publisher",
                    "local_field": "publisher_id",
                    "on_delete": "restrict",
                },
                "books": {"target": "book", "target_field": "author_id"},
            },
        },
    )
    registry.register(
        "book",
        {
            "entity": Book,
            "collection": "books",
            "unique": {"isbn": "isbn"},
            "indexes": ["author_id", "genre"],
            "relations": {
                "author": {"target": "author", "local_field": "author_id", "on_delete": "restrict"},
            },
        },
    )
    return registry


def build_registry(cursor_secret: str | None = None) -> EntityRegistry:
    """Every entity, with page cursors signed by ``cursor_secret`` (random when None)."""
    return register_defaults(EntityRegistry(cursor_secret))
