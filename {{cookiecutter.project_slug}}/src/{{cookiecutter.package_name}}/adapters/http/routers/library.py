"""HTTP routes of the example domain: thin translations between JSON and use cases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi import Query as QueryParam
from pydantic import BaseModel

from ....application.library import LibraryQueries, LibraryService
from ....domain.library import Author, Book, Publisher
from ....ports.errors import NotFound
from ....ports.repository import Populated
from ..deps import RepositoriesDep
from ..errors import error_responses
from ..pagination import ListParamsDep
from ..schemas import (
    MAX_VERSION,
    AuthorIn,
    AuthorMerge,
    AuthorOut,
    AuthorPage,
    AuthorPatch,
    BookIn,
    BookOut,
    BookPage,
    BookPatch,
    PublisherIn,
    PublisherOut,
    PublisherPage,
    PublisherPatch,
    changes_of,
    populated_dict,
)
from ..security import require_roles


def get_library(repositories: RepositoriesDep) -> LibraryService:
    return LibraryService(
        repositories.of(Publisher),
        repositories.of(Author),
        repositories.of(Book),
        repositories.unit_of_work,
    )


def get_queries(repositories: RepositoriesDep) -> LibraryQueries:
    names = ("publisher", "author", "book")
    return LibraryQueries({name: repositories.view(name) for name in names})


Library = Annotated[LibraryService, Depends(get_library)]
Queries = Annotated[LibraryQueries, Depends(get_queries)]
Include = Annotated[str | None, QueryParam(max_length=512, description="e.g. `author.publisher`")]
ExpectedVersion = Annotated[
    int | None, QueryParam(ge=1, le=MAX_VERSION, description="Delete only this version.")
]

# Writes need an editor (or an admin); reads are public. Roles stay in the host app.
EDITORS = [Depends(require_roles("editor", "admin"))]

# The errors each kind of route can answer (413, 422 and 503 are declared app-wide).
LIST_ERRORS = error_responses(400)
GET_ERRORS = error_responses(400, 404)
CREATE_ERRORS = error_responses(400, 401, 403, 409)
CHANGE_ERRORS = error_responses(400, 401, 403, 404, 409)
MERGE_ERRORS = error_responses(400, 401, 403, 404, 409)
DELETE_ERRORS = error_responses(401, 403, 404, 409)


def _page(model: type[BaseModel], page: Any) -> Any:
    return model.model_validate(
        {
            "items": [populated_dict(p) for p in page.items],
            "next_cursor": page.next_cursor,
            "next_offset": page.offset,
        }
    )


def _one(entity: str, id: str, found: Populated | None) -> dict[str, Any]:
    if found is None:
        raise NotFound(entity, id)
    return populated_dict(found)


def _includes(include: str | None) -> list[str]:
    return [p.strip() for p in include.split(",") if p.strip()] if include else []


def build_library_router() -> APIRouter:
    router = APIRouter()

    # --- publishers ------------------------------------------------------------------------
    @router.get(
        "/publishers",
        response_model=PublisherPage,
        response_model_exclude_unset=True,
        tags=["publishers"],
        responses=LIST_ERRORS,
    )
    async def list_publishers(params: ListParamsDep, queries: Queries) -> Any:
        return _page(PublisherPage, await queries.list("publisher", params.query, params.include))

    @router.get(
        "/publishers/{id}",
        response_model=PublisherOut,
        response_model_exclude_unset=True,
        tags=["publishers"],
        responses=GET_ERRORS,
    )
    async def get_publisher(id: str, queries: Queries, include: Include = None) -> Any:
        return _one("publisher", id, await queries.get("publisher", id, _includes(include)))

    @router.post(
        "/publishers",
        response_model=PublisherOut,
        status_code=status.HTTP_201_CREATED,
        dependencies=EDITORS,
        tags=["publishers"],
        responses=CREATE_ERRORS,
    )
    async def create_publisher(body: PublisherIn, library: Library) -> Any:
        return await library.create_publisher(body.name, body.country)

    @router.patch(
        "/publishers/{id}",
        response_model=PublisherOut,
        dependencies=EDITORS,
        tags=["publishers"],
        responses=CHANGE_ERRORS,
    )
    async def change_publisher(id: str, body: PublisherPatch, library: Library) -> Any:
        return await library.change_publisher(id, changes_of(body, Publisher), body.version)

    @router.delete(
        "/publishers/{id}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=EDITORS,
        tags=["publishers"],
        responses=DELETE_ERRORS,
    )
    async def delete_publisher(id: str, library: Library, version: ExpectedVersion = None) -> None:
        await library.delete_publisher(id, version)

    # --- authors ---------------------------------------------------------------------------
    @router.get(
        "/authors",
        response_model=AuthorPage,
        response_model_exclude_unset=True,
        tags=["authors"],
        responses=LIST_ERRORS,
    )
    async def list_authors(params: ListParamsDep, queries: Queries) -> Any:
        return _page(AuthorPage, await queries.list("author", params.query, params.include))

    @router.get(
        "/authors/{id}",
        response_model=AuthorOut,
        response_model_exclude_unset=True,
        tags=["authors"],
        responses=GET_ERRORS,
    )
    async def get_author(id: str, queries: Queries, include: Include = None) -> Any:
        return _one("author", id, await queries.get("author", id, _includes(include)))

    @router.post(
        "/authors",
        response_model=AuthorOut,
        status_code=status.HTTP_201_CREATED,
        dependencies=EDITORS,
        tags=["authors"],
        responses=CREATE_ERRORS,
    )
    async def create_author(body: AuthorIn, library: Library) -> Any:
        return await library.create_author(body.name, body.email, body.publisher_id, body.bio)

    @router.patch(
        "/authors/{id}",
        response_model=AuthorOut,
        dependencies=EDITORS,
        tags=["authors"],
        responses=CHANGE_ERRORS,
    )
    async def change_author(id: str, body: AuthorPatch, library: Library) -> Any:
        return await library.change_author(id, changes_of(body, Author), body.version)

    @router.delete(
        "/authors/{id}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=EDITORS,
        tags=["authors"],
        responses=DELETE_ERRORS,
    )
    async def delete_author(id: str, library: Library, version: ExpectedVersion = None) -> None:
        await library.delete_author(id, version)

    @router.post(
        "/authors/{id}/merge",
        response_model=AuthorOut,
        dependencies=EDITORS,
        tags=["authors"],
        responses=MERGE_ERRORS,
        summary="Move every book of this author to another one, then delete this author",
    )
    async def merge_author(id: str, body: AuthorMerge, library: Library) -> Any:
        return await library.merge_authors(id, body.into)

    # --- books -----------------------------------------------------------------------------
    @router.get(
        "/books",
        response_model=BookPage,
        response_model_exclude_unset=True,
        tags=["books"],
        responses=LIST_ERRORS,
    )
    async def list_books(params: ListParamsDep, queries: Queries) -> Any:
        return _page(BookPage, await queries.list("book", params.query, params.include))

    @router.get(
        "/books/{id}",
        response_model=BookOut,
        response_model_exclude_unset=True,
        tags=["books"],
        responses=GET_ERRORS,
    )
    async def get_book(id: str, queries: Queries, include: Include = None) -> Any:
        return _one("book", id, await queries.get("book", id, _includes(include)))

    @router.post(
        "/books",
        response_model=BookOut,
        status_code=status.HTTP_201_CREATED,
        dependencies=EDITORS,
        tags=["books"],
        responses=CREATE_ERRORS,
    )
    async def create_book(body: BookIn, library: Library) -> Any:
        return await library.create_book(
            body.title,
            body.isbn,
            body.author_id,
            body.genre,
            body.price,
            body.published_on,
            body.tags,
        )

    @router.patch(
        "/books/{id}",
        response_model=BookOut,
        dependencies=EDITORS,
        tags=["books"],
        responses=CHANGE_ERRORS,
    )
    async def change_book(id: str, body: BookPatch, library: Library) -> Any:
        return await library.change_book(id, changes_of(body, Book), body.version)

    @router.delete(
        "/books/{id}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=EDITORS,
        tags=["books"],
        responses=DELETE_ERRORS,
    )
    async def delete_book(id: str, library: Library, version: ExpectedVersion = None) -> None:
        await library.delete_book(id, version)

    return router
