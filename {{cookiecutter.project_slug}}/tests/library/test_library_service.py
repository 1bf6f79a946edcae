"""The example's domain rules and its one multi-write use case, on the memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.application.library import LibraryService
from {{cookiecutter.package_name}}.domain.errors import DomainError
from {{cookiecutter.package_name}}.domain.library import Author, Book, Genre, Publisher
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    NotFound,
    ReferenceNotFound,
    StillReferenced,
)
from {{cookiecutter.package_name}}.ports.repository import Repository
from {{cookiecutter.package_name}}.registrations import build_registry


@dataclass
class Library:
    service: LibraryService
    publishers: Repository[Publisher]
    authors: Repository[Author]
    books: Repository[Book]


@pytest.fixture
async def library() -> AsyncIterator[Library]:
    provider = RepositoryProvider(build_registry(), {"memory": MemoryBackend}, "memory")
    await provider.start(create_schema=True)
    yield Library(
        LibraryService(provider.unit_of_work),
        provider.of(Publisher),
        provider.of(Author),
        provider.of(Book),
    )
    await provider.close()


async def test_a_book_needs_an_existing_author(library: Library) -> None:
    with pytest.raises(ReferenceNotFound, match="does not exist"):
        await library.books.add(Book(title="T", isbn="9780306406157", author_id="missing"))
    assert await library.books.count() == 0


async def test_isbn_is_validated_and_normalised(library: Library) -> None:
    author = await library.authors.add(Author(name="Ada", email="ADA@example.org "))
    assert author.email == "ada@example.org"
    book = await library.books.add(
        Book(title="T", isbn="978-0-306-40615-7", author_id=author.id, genre=Genre.SCIENCE)
    )
    assert book.isbn == "9780306406157"
    with pytest.raises(DomainError, match="ISBN"):
        Book(title="T", isbn="978-0-306-40615-8", author_id=author.id)
    with pytest.raises(AlreadyExists):
        await library.books.add(Book(title="Other", isbn="9780306406157", author_id=author.id))


async def test_negative_price_is_a_domain_error(library: Library) -> None:
    with pytest.raises(DomainError, match="negative"):
        Book(title="T", isbn="9780306406157", author_id="a", price=Decimal("-1"))


async def test_changes_are_version_guarded_and_validated(library: Library) -> None:
    author = await library.authors.add(Author(name="Ada", email="ada@example.org"))
    book = await library.books.add(Book(title="T", isbn="9780306406157", author_id=author.id))
    changed = await library.books.update_fields(book.id, {"title": "New"}, expected_version=1)
    assert (changed.title, changed.version) == ("New", 2)
    with pytest.raises(ConcurrencyConflict):
        await library.books.update_fields(book.id, {"title": "Late"}, expected_version=1)
    with pytest.raises(DomainError):
        await library.books.update_fields(book.id, {"title": "  "}, expected_version=2)
    assert await library.books.get_or_raise(book.id) == changed


async def test_referenced_rows_cannot_be_deleted(library: Library) -> None:
    publisher = await library.publishers.add(Publisher(name="Acme"))
    author = await library.authors.add(
        Author(name="Ada", email="ada@example.org", publisher_id=publisher.id)
    )
    await library.books.add(Book(title="T", isbn="9780306406157", author_id=author.id))
    with pytest.raises(StillReferenced):
        await library.authors.delete(author.id)
    with pytest.raises(StillReferenced):
        await library.publishers.delete(publisher.id)


@pytest.mark.parametrize(
    "isbn",
    [
        "978030640615\u00b2",
        "\u0669\u0667\u0668" + "0306406157",
        "\uff19\uff17\uff18" + "0306406157",
    ],
    ids=["superscript", "arabic-indic", "fullwidth"],
)
async def test_isbns_take_ascii_digits_only(library: Library, isbn: str) -> None:
    author = await library.authors.add(Author(name="Ada", email="ada@example.org"))
    with pytest.raises(DomainError, match="ISBN"):
        Book(title="T", isbn=isbn, author_id=author.id)
    book = await library.books.add(Book(title="T", isbn="9780306406157", author_id=author.id))
    with pytest.raises(DomainError, match="ISBN"):
        await library.books.update_fields(book.id, {"isbn": isbn}, expected_version=1)
    assert await library.books.get_or_raise(book.id) == book


async def test_merge_moves_every_book_then_deletes_the_author(library: Library) -> None:
    ada = await library.authors.add(Author(name="Ada", email="ada@example.org"))
    bob = await library.authors.add(Author(name="Bob", email="bob@example.org"))
    for isbn in ("9780306406157", "9780131103627"):
        await library.books.add(Book(title="T", isbn=isbn, author_id=ada.id))
    assert (await library.service.merge_authors(ada.id, bob.id)).id == bob.id
    assert await library.authors.get(ada.id) is None
    assert await library.books.count({"author_id": bob.id}) == 2
    with pytest.raises(DomainError):
        await library.service.merge_authors(bob.id, bob.id)


async def test_a_failed_merge_changes_nothing(library: Library) -> None:
    ada = await library.authors.add(Author(name="Ada", email="ada@example.org"))
    book = await library.books.add(Book(title="T", isbn="9780306406157", author_id=ada.id))
    with pytest.raises(NotFound):
        await library.service.merge_authors(ada.id, "missing")
    assert await library.authors.get(ada.id) == ada
    assert await library.books.get_or_raise(book.id) == book
