"""Request and response bodies of the example API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ...domain.library import Genre
from ...ports.errors import InvalidInput
from ...ports.repository import Populated
from ...ports.schema import schema_of
from ..persistence.codec import to_record

Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
Price = Annotated[Decimal, Field(ge=0, le=Decimal("1000000"), max_digits=12, decimal_places=2)]
MAX_VERSION = 2**63 - 1  # a 64-bit integer on every backend
Version = Annotated[
    int, Field(ge=1, le=MAX_VERSION, description="The version you read: a stale one is a 409.")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublisherIn(_In):
    name: Name
    country: Annotated[str, Field(max_length=100)] | None = None


class PublisherPatch(_In):
    version: Version
    name: Name | None = None
    country: Annotated[str, Field(max_length=100)] | None = None


class AuthorIn(_In):
    name: Name
    email: Annotated[str, Field(min_length=3, max_length=320)]
    publisher_id: Id | None = None
    bio: Annotated[str, Field(max_length=5000)] = ""


class AuthorPatch(_In):
    version: Version
    name: Name | None = None
    email: Annotated[str, Field(min_length=3, max_length=320)] | None = None
    publisher_id: Id | None = None
    bio: Annotated[str, Field(max_length=5000)] | None = None


class AuthorMerge(_In):
    into: Annotated[Id, Field(description="The author who receives the books.")]


class BookIn(_In):
    title: Name
    isbn: Annotated[str, Field(min_length=10, max_length=20)]
    author_id: Id
    genre: Genre = Genre.OTHER
    price: Price = Decimal("0")
    published_on: dt.date | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = []


class BookPatch(_In):
    version: Version
    title: Name | None = None
    isbn: Annotated[str, Field(min_length=10, max_length=20)] | None = None
    author_id: Id | None = None
    genre: Genre | None = None
    price: Price | None = None
    published_on: dt.date | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None


class PublisherOut(BaseModel):
    id: str
    name: str
    country: str | None
    created_at: dt.datetime
    version: int
    authors: list[AuthorOut] | None = None


class AuthorOut(BaseModel):
    id: str
    name: str
    email: str
    publisher_id: str | None
    bio: str
    created_at: dt.datetime
    version: int
    publisher: PublisherOut | None = None
    books: list[BookOut] | None = None


class BookOut(BaseModel):
    id: str
    title: str
    isbn: str
    author_id: str
    genre: Genre
    price: Decimal
    published_on: dt.date | None
    tags: list[str]
    created_at: dt.datetime
    version: int
    author: AuthorOut | None = None


class PublisherPage(BaseModel):
    items: list[PublisherOut]
    next_cursor: str | None = None
    next_offset: int | None = None


class AuthorPage(BaseModel):
    items: list[AuthorOut]
    next_cursor: str | None = None
    next_offset: int | None = None


class BookPage(BaseModel):
    items: list[BookOut]
    next_cursor: str | None = None
    next_offset: int | None = None


def populated_dict(node: Populated) -> dict[str, Any]:
    """An entity with its populated relations as one nested dict (only the ones asked for)."""
    data = to_record(node.entity)
    for name, related in node.related.items():
        if related is None:
            data[name] = None
        elif isinstance(related, list):
            data[name] = [populated_dict(child) for child in related]
        else:
            data[name] = populated_dict(related)
    return data


def changes_of(patch: BaseModel, entity: type[Any]) -> dict[str, Any]:
    """The fields a PATCH body actually sets (``version`` is the guard, not a change).

    ``null`` clears only fields the entity declares optional.
    """
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    fields = schema_of(entity).fields
    for name, value in changes.items():
        if value is None and not fields[name].optional:
            raise InvalidInput(f"{name} cannot be null")
    return changes
