"""The example domain: publishers, their authors, and the authors' books.

It exists to show every kit feature on a live API (unique fields, versions, many-to-one and
one-to-many relations, nested includes). Delete it when you write your own: see the README.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import DomainError


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Genre(enum.StrEnum):
    FICTION = "fiction"
    NON_FICTION = "non_fiction"
    SCIENCE = "science"
    HISTORY = "history"
    OTHER = "other"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Publisher:
    name: str
    country: str | None = None
    id: str = field(default_factory=new_id)
    created_at: dt.datetime = field(default_factory=utcnow)
    version: int = 0

    def __post_init__(self) -> None:
        self.name = _required_text(self.name, "publisher name")


@dataclass
class Author:
    name: str
    email: str
    publisher_id: str | None = None
    bio: str = ""
    id: str = field(default_factory=new_id)
    created_at: dt.datetime = field(default_factory=utcnow)
    version: int = 0

    def __post_init__(self) -> None:
        self.name = _required_text(self.name, "author name")
        self.email = self.email.strip().lower()
        if not _EMAIL.match(self.email):
            raise DomainError(f"{self.email!r} is not an email address")


@dataclass
class Book:
    title: str
    isbn: str
    author_id: str
    genre: Genre = Genre.OTHER
    price: Decimal = Decimal("0")
    published_on: dt.date | None = None
    tags: list[str] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    created_at: dt.datetime = field(default_factory=utcnow)
    version: int = 0

    def __post_init__(self) -> None:
        self.title = _required_text(self.title, "book title")
        self.isbn = normalise_isbn(self.isbn)
        if self.price < 0:
            raise DomainError("a price cannot be negative")
        self.tags = sorted({t.strip().lower() for t in self.tags if t.strip()})


def _required_text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise DomainError(f"{what} must not be empty")
    return value


def normalise_isbn(raw: str) -> str:
    """ISBN-10 or ISBN-13 with a valid check digit, stored without hyphens or spaces.

    ASCII digits only: ``str.isdigit`` also accepts superscripts, Arabic-Indic and fullwidth
    digits, which would store one ISBN under several spellings (or crash ``int``).
    """
    isbn = raw.replace("-", "").replace(" ", "").upper()
    if not isbn.isascii():
        raise DomainError(f"{raw!r} is not a valid ISBN-10 or ISBN-13 (ASCII digits only)")
    if len(isbn) == 13 and isbn.isdigit():
        total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(isbn[:12]))
        if (10 - total % 10) % 10 == int(isbn[12]):
            return isbn
    elif len(isbn) == 10 and isbn[:9].isdigit() and (isbn[9].isdigit() or isbn[9] == "X"):
        check = 10 if isbn[9] == "X" else int(isbn[9])
        total = sum((10 - i) * int(d) for i, d in enumerate(isbn[:9])) + check
        if total % 11 == 0:
            return isbn
    raise DomainError(f"{raw!r} is not a valid ISBN-10 or ISBN-13")
