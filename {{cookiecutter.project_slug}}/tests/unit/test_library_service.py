"""Use cases of the example domain, on the memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from {{cookiecutter.package_name}}.registrations import build_registry


@pytest.fixture
async def library() -> AsyncIterator[LibraryService]:
    provider = RepositoryProvider(build_registry(), {"memory": MemoryBackend}, "memory")
    await provider.start(create_schema=True)
    yield LibraryService(
        provider.of(Publisher), provider.of(Author), provider.of(Book), provider.unit_of_work
    )
    await provider.close()


async def test_create_book_needs_an_existing_author(library: LibraryService) -> None:
    with pytest.raises(ReferenceNotFound, match="does not exist"):
        await library.create_book("T", "9780306406157", "missing")
    assert await library.books.count() == 0


async def test_isbn_is_validated_and_normalised(library: LibraryService) -> None:
    author = await library.create_author("Ada", "ADA@example.org ")
    assert author.email == "ada@example.org"
    book = await library.create_book("T", "978-0-306-40615-7", author.id, Genre.SCIENCE)
    assert book.isbn == "9780306406157"
    with pytest.raises(DomainError, match="ISBN"):
        await library.create_book("T", "978-0-306-40615-8", author.id)
    with pytest.raises(AlreadyExists):
        await library.create_book("Other", "9780306406157", author.id)


async def test_negative_price_is_a_domain_error(library: LibraryService) -> None:
    author = await library.create_author("Ada", "ada@example.org")
    with pytest.raises(DomainError, match="negative"):
        await library.create_book("T", "9780306406157", author.id, price=Decimal("-1"))


async def test_change_book_is_version_guarded(library: LibraryService) -> None:
    author = await library.create_author("Ada", "ada@example.org")
    book = await library.create_book("T", "9780306406157", author.id)
    changed = await library.change_book(book.id, {"title": "New"}, expected_version=1)
    assert (changed.title, changed.version) == ("New", 2)
    with pytest.raises(ConcurrencyConflict):
        await library.change_book(book.id, {"title": "Late"}, expected_version=1)


async def test_referenced_rows_cannot_be_deleted(library: LibraryService) -> None:
    publisher = await library.create_publisher("Acme")
    author = await library.create_author("Ada", "ada@example.org", publisher.id)
    await library.create_book("T", "9780306406157", author.id)
    with pytest.raises(StillReferenced):
        await library.delete_author(author.id)
    with pytest.raises(StillReferenced):
        await library.delete_publisher(publisher.id)


@pytest.mark.parametrize(
    "isbn",
    [
        "978030640615\u00b2",
        "\u0669\u0667\u0668" + "0306406157",
        "\uff19\uff17\uff18" + "0306406157",
    ],
    ids=["superscript", "arabic-indic", "fullwidth"],
)
async def test_isbns_take_ascii_digits_only(library: LibraryService, isbn: str) -> None:
    author = await library.create_author("Ada", "ada@example.org")
    with pytest.raises(DomainError, match="ISBN"):
        await library.create_book("T", isbn, author.id)
    book = await library.create_book("T", "9780306406157", author.id)
    with pytest.raises(DomainError, match="ISBN"):
        await library.change_book(book.id, {"isbn": isbn}, expected_version=1)
    assert await library.books.get_or_raise(book.id) == book


async def test_merge_moves_every_book_then_deletes_the_author(library: LibraryService) -> None:
    ada = await library.create_author("Ada", "ada@example.org")
    bob = await library.create_author("Bob", "bob@example.org")
    for isbn in ("9780306406157", "9780131103627"):
        await library.create_book("T", isbn, ada.id)
    assert (await library.merge_authors(ada.id, bob.id)).id == bob.id
    assert await library.authors.get(ada.id) is None
    assert await library.books.count({"author_id": bob.id}) == 2
    with pytest.raises(DomainError):
        await library.merge_authors(bob.id, bob.id)


async def test_a_failed_merge_changes_nothing(library: LibraryService) -> None:
    ada = await library.create_author("Ada", "ada@example.org")
    book = await library.create_book("T", "9780306406157", ada.id)
    with pytest.raises(NotFound):
        await library.merge_authors(ada.id, "missing")
    assert await library.authors.get(ada.id) == ada
    assert await library.books.get_or_raise(book.id) == book
