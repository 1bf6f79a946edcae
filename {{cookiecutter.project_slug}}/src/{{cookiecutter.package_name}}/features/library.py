"""The example feature: publishers, their authors and the authors' books.

It shows every kit feature on a live API: unique fields, versions, enforced references,
many-to-one and one-to-many relations with nested includes, a use case that is one unit of work
(merging two authors), demo data. Delete it when you write your own: docs/removing-the-example.md
lists its files, and a template test deletes exactly those and runs every gate and test.
"""

from __future__ import annotations

from ..adapters.http.routers.library import build_library_router
from ..adapters.persistence.registry import EntityRegistry
from ..application.library_demo import demo_records
from ..domain.library import Author, Book, Publisher
from .feature import Feature


def register(registry: EntityRegistry) -> None:
    registry.register(
        "publisher",
        {
            "entity": Publisher,
            "collection": "publishers",
            "unique": ["name"],
            "relations": {"authors": {"target": "author", "target_field": "publisher_id"}},
        },
    )
    registry.register(
        "author",
        {
            "entity": Author,
            "collection": "authors",
            "unique": ["email"],
            "indexes": ["publisher_id"],
            "relations": {
                # Enforced by the backend: an author's publisher exists, and a publisher with
                # authors cannot be deleted (PostgreSQL: a foreign key).
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
            "unique": ["isbn"],
            "indexes": ["author_id", "genre"],
            "relations": {
                "author": {"target": "author", "local_field": "author_id", "on_delete": "restrict"},
            },
        },
    )


LIBRARY = Feature(
    name="library",
    register=register,
    router=build_library_router,
    demo_records=demo_records,
)
