"""HTTP routes of the example feature: CRUD derived from the registrations, and one route that
is not CRUD (merging two authors, a unit of work)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ....application.library import LibraryService
from ...persistence.registry import EntityRegistry
from ..deps import use_case
from ..errors import error_responses
from ..resources import Resource, resource_router
from ..security import require_roles

NAME = {"min_length": 1, "max_length": 200}
ID = {"min_length": 1, "max_length": 64}

RESOURCES = (
    Resource(
        "publisher",
        "/publishers",
        constraints={"name": NAME, "country": {"max_length": 100}},
        example={"name": "Acme Press", "country": "GB"},
    ),
    Resource(
        "author",
        "/authors",
        constraints={
            "name": NAME,
            "email": {"min_length": 3, "max_length": 320},
            "publisher_id": ID,
            "bio": {"max_length": 5000},
        },
        example={"name": "Ada Lovelace", "email": "ada@example.org", "publisher_id": None},
    ),
    Resource(
        "book",
        "/books",
        constraints={
            "title": NAME,
            "isbn": {"min_length": 10, "max_length": 20},
            "author_id": ID,
            "price": {"ge": 0, "le": 1_000_000, "max_digits": 12, "decimal_places": 2},
            "tags": {"max_length": 20},
        },
        example={
            "title": "Notes on the Analytical Engine",
            "isbn": "978-0-262-03384-8",
            "author_id": "demo-author",
            "genre": "science",
            "price": "12.50",
            "published_on": dt.date(1843, 9, 1).isoformat(),
            "tags": ["computing"],
        },
    ),
)


class AuthorMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: Annotated[
        str, Field(min_length=1, max_length=64, description="The author who receives the books.")
    ]


Library = Annotated[LibraryService, Depends(use_case(LibraryService))]


def build_library_router(registry: EntityRegistry) -> APIRouter:
    router = resource_router(registry, RESOURCES)

    @router.post(
        "/authors/{id}/merge",
        response_model=router.out_models["author"],
        dependencies=[Depends(require_roles("editor", "admin"))],
        tags=["authors"],
        responses=error_responses(400, 401, 403, 404, 409),
        summary="Move every book of this author to another one, then delete this author",
    )
    async def merge_author(id: str, body: AuthorMerge, library: Library) -> Any:
        return await library.merge_authors(id, body.into)

    return router
