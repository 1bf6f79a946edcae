"""Use cases of the example domain, on the memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.memory.repository import MemoryBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.application.library import LibraryService
from {{cookiecutter.package_name}}.domain.errors import DomainConflict, DomainError
from {{cookiecutter.package_name}}.domain.library import Author, Book, Genre, Publisher
from {{cookiecutter.package_name}}.ports.errors import AlreadyExists, ConcurrencyConflict
from {{cookiecutter.package_name}}.registrations import build_registry


@pytest.fixture
async def library() -> AsyncIterator[LibraryService]:
    provider = RepositoryProvider(build_registry(), {"memory": MemoryBackend}, "memory")
    await provider.start(create_schema=True)
    yield LibraryService(provider.of(Publisher), provider.of(Author), provider.of(Book))
    await provider.close()


async def test_create_book_needs_an_existing_author(library: LibraryService) -> None:
    with pytest.raises(DomainError, match="does not exist"):
        await library.create_book("T", "9780306406157", "missing")


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
    with pytest.raises(DomainConflict):
        await library.delete_author(author.id)
    with pytest.raises(DomainConflict):
        await library.delete_publisher(publisher.id)
