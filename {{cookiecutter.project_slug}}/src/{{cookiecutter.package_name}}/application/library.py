"""Use cases of the example domain. They take ports, never adapters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..domain.errors import DomainConflict, DomainError
from ..domain.library import Author, Book, Genre, Publisher
from ..ports.query import Page, Query
from ..ports.repository import Populated, Repository, ViewRepository


class LibraryService:
    def __init__(
        self,
        publishers: Repository[Publisher],
        authors: Repository[Author],
        books: Repository[Book],
    ) -> None:
        self.publishers = publishers
        self.authors = authors
        self.books = books

    async def create_publisher(self, name: str, country: str | None = None) -> Publisher:
        return await self.publishers.add(Publisher(name=name, country=country))

    async def create_author(
        self, name: str, email: str, publisher_id: str | None = None, bio: str = ""
    ) -> Author:
        if publisher_id is not None and await self.publishers.get(publisher_id) is None:
            raise DomainError(f"publisher {publisher_id!r} does not exist")
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
        if await self.authors.get(author_id) is None:
            raise DomainError(f"author {author_id!r} does not exist")
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
        publisher_id = changes.get("publisher_id")
        if publisher_id is not None and await self.publishers.get(publisher_id) is None:
            raise DomainError(f"publisher {publisher_id!r} does not exist")
        return await self.authors.update_fields(id, changes, expected_version=expected_version)

    async def change_book(self, id: str, changes: Mapping[str, Any], expected_version: int) -> Book:
        author_id = changes.get("author_id")
        if author_id is not None and await self.authors.get(author_id) is None:
            raise DomainError(f"author {author_id!r} does not exist")
        return await self.books.update_fields(id, changes, expected_version=expected_version)

    async def delete_publisher(self, id: str, expected_version: int | None = None) -> None:
        if await self.authors.exists({"publisher_id": id}):
            raise DomainConflict("the publisher still has authors; move or delete them first")
        await self.publishers.delete(id, expected_version=expected_version)

    async def delete_author(self, id: str, expected_version: int | None = None) -> None:
        if await self.books.exists({"author_id": id}):
            raise DomainConflict("the author still has books; delete them first")
        await self.authors.delete(id, expected_version=expected_version)

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
