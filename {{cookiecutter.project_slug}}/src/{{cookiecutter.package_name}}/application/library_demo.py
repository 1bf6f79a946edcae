"""Demo records for the example domain (``SEED_DEMO_DATA=true``). Fixed ids keep seeding
idempotent: every start converges to the same rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..domain.library import Author, Book, Genre, Publisher


def demo_records() -> dict[str, list[Any]]:
    created = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    press = Publisher(id="demo-publisher", name="Demo Press", country="GB", created_at=created)
    ada = Author(
        id="demo-author",
        name="Ada Lovelace",
        email="ada@example.org",
        publisher_id=press.id,
        bio="Wrote the first published algorithm.",
        created_at=created,
    )
    book = Book(
        id="demo-book",
        title="Notes on the Analytical Engine",
        isbn="978-0-262-03384-8",
        author_id=ada.id,
        genre=Genre.SCIENCE,
        price=Decimal("12.50"),
        published_on=dt.date(1843, 9, 1),
        tags=["computing", "history"],
        created_at=created,
    )
    return {"publisher": [press], "author": [ada], "book": [book]}
