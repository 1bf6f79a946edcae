"""Use cases of the example domain. They take ports, never adapters.

References are enforced by the repositories (``on_delete`` in ``registrations.py``): creating
an author for a missing publisher, or deleting a publisher that still has authors, is refused
atomically by the backend (``ReferenceNotFound``, ``StillReferenced``), so no use case checks
first and then acts. Several writes that must happen together run in one unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..domain.errors import DomainConflict, DomainError
from ..domain.library import Author, Book, Genre, Publisher
from ..ports.query import Page, Query
from ..ports.repository import Populated, Repository, ViewRepository
from ..ports.unit_of_work import UnitOfWorkFactory

# One unit of work holds at most 100 writes on DynamoDB (each moved book is one, its author's
# reference count another); a bigger merge is refused rather than half done.
MAX_BOOKS_PER_MERGE = 40


class LibraryService:
    def __init__(
        self,
        publishers: Repository[Publisher],
        authors: Repository[Author],
        books: Repository[Book],
        unit_of_work: UnitOfWorkFactory,
    ) -> None:
        self.publishers = publishers
        self.authors = authors
        self.books = books
        self.unit_of_work = unit_of_work

    async def create_publisher(self, name: str, country: str | None = None) -> Publisher:
        return await self.publishers.add(Publisher(name=name, country=country))

    async def create_author(
        self, name: str, email: str, publisher_id: str | None = None, bio: str = ""
    ) -> Author:
        return await self.authors.add(
            Author(name=name, email=email, publisher_id=publisher_id, bio=bio)
        )

    async def create_book(
        self,
        title: str,
        isbn: str,
        author_id: str,
        genre: Genre = Genre.OTHER,
        price: Decimal = Decimal("0"),
        published_on: dt.date | None = None,
        tags: Sequence[str] = (),
    ) -> Book:
        book = Book(
            title=title,
            isbn=isbn,
            author_id=author_id,
            genre=genre,
            price=price,
            published_on=published_on,
            tags=list(tags),
        )
        return await self.books.add(book)

    async def change_publisher(
        self, id: str, changes: Mapping[str, Any], expected_version: int
    ) -> Publisher:
        return await self.publishers.update_fields(id, changes, expected_version=expected_version)

    async def change_author(
        self, id: str, changes: Mapping[str, Any], expected_version: int
    ) -> Author:
        return await self.authors.update_fields(id, changes, expected_version=expected_version)

    async def change_book(self, id: str, changes: Mapping[str, Any], expected_version: int) -> Book:
        return await self.books.update_fields(id, changes, expected_version=expected_version)

    async def delete_publisher(self, id: str, expected_version: int | None = None) -> None:
        await self.publishers.delete(id, expected_version=expected_version)

    async def delete_author(self, id: str, expected_version: int | None = None) -> None:
        await self.authors.delete(id, expected_version=expected_version)

    async def merge_authors(self, source_id: str, target_id: str) -> Author:
        """Move every book of ``source_id`` to ``target_id``, then delete ``source_id``: all of
        it or, on any failure (a book changed meanwhile, the target deleted...), none of it."""
        if source_id == target_id:
            raise DomainError("an author cannot be merged into itself")
        async with self.unit_of_work() as uow:
            authors, books = uow.of(Author), uow.of(Book)
            target = await authors.get_or_raise(target_id)
            await authors.get_or_raise(source_id)
            moved = await books.find(
                Query(filter={"author_id": source_id}, limit=MAX_BOOKS_PER_MERGE)
            )
            if moved.has_more:
                raise DomainConflict(
                    f"an author with more than {MAX_BOOKS_PER_MERGE} books is merged in steps"
                )
            for book in moved.items:
                await books.update_fields(
                    book.id, {"author_id": target_id}, expected_version=book.version
                )
            await authors.delete(source_id)
        return target

    async def delete_book(self, id: str, expected_version: int | None = None) -> None:
        await self.books.delete(id, expected_version=expected_version)


class LibraryQueries:
    """Reads, with relations populated in a bounded number of round trips."""

    def __init__(self, views: Mapping[str, ViewRepository]) -> None:
        self._views = views

    async def list(self, entity: str, query: Query, include: Sequence[str]) -> Page[Populated]:
        return await self._views[entity].find(query, include)

    async def get(self, entity: str, id: str, include: Sequence[str]) -> Populated | None:
        return await self._views[entity].get(id, include)
