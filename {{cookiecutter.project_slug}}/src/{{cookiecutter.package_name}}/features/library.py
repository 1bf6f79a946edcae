"""The example feature: publishers, their authors and the authors' books.

It shows every kit feature on a live API: unique fields, versions, enforced references,
many-to-one and one-to-many relations with nested includes, a use case that is one unit of work
(merging two authors), demo data. Delete it when you write your own: docs/removing-the-example.md
lists its files, and a template test deletes exactly those and runs every gate and test.
"""

from __future__ import annotations

from ..adapters.http.routers.library import build_library_router
from ..adapters.persistence.registry import (
    EntityRegistry,
    EntitySpec,
    OnDelete,
    Relation,
    RepositoryProvider,
)
from ..application.library import LibraryService
from ..application.library_demo import demo_records
from ..domain.library import Author, Book, Publisher
from .feature import Feature


def register(registry: EntityRegistry) -> None:
    registry.register(
        EntitySpec(
            "publisher",
            Publisher,
            "publishers",
            unique=("name",),
            relations={"authors": Relation("author", target_field="publisher_id")},
        )
    )
    registry.register(
        EntitySpec(
            "author",
            Author,
            "authors",
            unique=("email",),
            indexes=("publisher_id",),
            relations={
                # Enforced by the backend: an author's publisher exists, and a publisher with
                # authors cannot be deleted (PostgreSQL: a foreign key).
                "publisher": Relation(
                    "publisher", local_field="publisher_id", on_delete=OnDelete.RESTRICT
                ),
                "books": Relation("book", target_field="author_id"),
            },
        )
    )
    registry.register(
        EntitySpec(
            "book",
            Book,
            "books",
            unique=("isbn",),
            indexes=("author_id", "genre"),
            relations={
                "author": Relation("author", local_field="author_id", on_delete=OnDelete.RESTRICT)
            },
        )
    )


def use_cases(repositories: RepositoryProvider) -> tuple[LibraryService]:
    return (LibraryService(repositories.unit_of_work),)


LIBRARY = Feature(
    name="library",
    register=register,
    router=build_library_router,
    use_cases=use_cases,
    demo_records=demo_records,
)
