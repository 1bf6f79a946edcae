"""The example API end to end on the memory backend: auth, CRUD, lists, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.app import ADMIN, EDITOR, READER, bearer

ISBNS = ["9780306406157", "9780131103627", "9780201633610", "0306406152", "9781492056355"]


async def _seed(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    publisher = (await client.post("/publishers", json={"name": "Acme"}, headers=headers)).json()
    author = (
        await client.post(
            "/authors",
            json={"name": "Grace", "email": "grace@acme.io", "publisher_id": publisher["id"]},
            headers=headers,
        )
    ).json()
    books = []
    for n, isbn in enumerate(ISBNS):
        response = await client.post(
            "/books",
            json={
                "title": f"Book {n}",
                "isbn": isbn,
                "author_id": author["id"],
                "price": f"{n + 1}.25",
                "genre": "science" if n % 2 else "fiction",
                "tags": ["Tag", f"t{n}"],
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        books.append(response.json())
    return {"publisher": publisher, "author": author, "books": books}


async def test_openapi_and_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_demo_data_is_seeded_once(client: httpx.AsyncClient) -> None:
    book = (await client.get("/books/demo-book", params={"include": "author.publisher"})).json()
    assert book["author"]["publisher"]["name"] == "Demo Press"
    assert book["version"] == 1


async def test_writes_need_an_editor(client: httpx.AsyncClient) -> None:
    anonymous = await client.post("/publishers", json={"name": "X"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "unauthenticated"
    reader = await client.post(
        "/publishers", json={"name": "X"}, headers=await bearer(client, READER)
    )
    assert reader.status_code == 403
    editor = await client.post(
        "/publishers", json={"name": "X"}, headers=await bearer(client, EDITOR)
    )
    assert editor.status_code == 201
    admin = await client.post(
        "/publishers", json={"name": "Y"}, headers=await bearer(client, ADMIN)
    )
    assert admin.status_code == 201


async def test_crud_versions_and_conflicts(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, EDITOR)
    data = await _seed(client, headers)
    book = data["books"][0]
    assert book["isbn"] == ISBNS[0]
    assert book["tags"] == ["t0", "tag"]

    renamed = await client.patch(
        f"/books/{book['id']}", json={"title": "Renamed", "version": 1}, headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["version"] == 2
    stale = await client.patch(
        f"/books/{book['id']}", json={"title": "Stale", "version": 1}, headers=headers
    )
    assert stale.status_code == 409
    assert stale.json()["error"] == "version_conflict"

    duplicate = await client.post(
        "/books",
        json={"title": "Dup", "isbn": ISBNS[1], "author_id": data["author"]["id"]},
        headers=headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == {
        "error": "already_exists",
        "message": f"book with isbn='{ISBNS[1]}' already exists",
        "field": "isbn",
    }

    busy = await client.delete(f"/authors/{data['author']['id']}", headers=headers)
    assert busy.status_code == 409
    assert busy.json()["error"] == "still_referenced"

    gone = await client.delete(f"/books/{book['id']}", params={"version": 2}, headers=headers)
    assert gone.status_code == 204
    assert (await client.get(f"/books/{book['id']}")).status_code == 404


async def test_lists_filter_sort_page_and_include(client: httpx.AsyncClient) -> None:
    data = await _seed(client, await bearer(client, EDITOR))
    author_id = data["author"]["id"]
    page = await client.get(
        "/books",
        params={
            "filter": json.dumps({"author_id": author_id, "price": {"gte": 2}}),
            "sort": "-price",
            "limit": 2,
            "include": "author.publisher",
        },
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert [b["price"] for b in body["items"]] == ["5.25", "4.25"]
    assert body["items"][0]["author"]["publisher"]["name"] == "Acme"
    rest = await client.get(
        "/books",
        params={
            "filter": json.dumps({"author_id": author_id, "price": {"gte": 2}}),
            "sort": "-price",
            "limit": 2,
            "cursor": body["next_cursor"],
        },
    )
    assert [b["price"] for b in rest.json()["items"]] == ["3.25", "2.25"]
    assert "author" not in rest.json()["items"][0], "relations appear only when included"

    by_author_name = await client.get(
        "/books", params={"filter": json.dumps({"author.name": "Grace"}), "limit": 100}
    )
    assert len(by_author_name.json()["items"]) == 5
    authors = await client.get(
        f"/publishers/{data['publisher']['id']}", params={"include": "authors.books"}
    )
    assert len(authors.json()["authors"][0]["books"]) == 5


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"filter": "{not json"}, 400, "invalid_query"),
        ({"filter": "[1, 2]"}, 400, "invalid_query"),
        ({"filter": json.dumps({"nope": 1})}, 400, "invalid_query"),
        ({"filter": json.dumps({"price": {"near": 1}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"price": "cheap"})}, 400, "invalid_query"),
        ({"sort": "nope"}, 400, "invalid_query"),
        ({"limit": 1000}, 400, "invalid_query"),
        ({"limit": 0}, 400, "invalid_query"),
        ({"limit": "ten"}, 422, "validation_error"),
        ({"offset": -1}, 400, "invalid_query"),
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
        ({"cursor": "abc", "offset": 2}, 400, "invalid_query"),
        ({"include": "nothing"}, 400, "invalid_query"),
    ],
)
async def test_bad_list_parameters_are_4xx(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, error: str
) -> None:
    response = await client.get("/books", params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "X", "isbn": "9780306406158", "author_id": "a"}, 422),  # bad check digit
        ({"title": "", "isbn": ISBNS[0], "author_id": "a"}, 422),
        ({"title": "X", "isbn": ISBNS[0], "author_id": "missing"}, 422),
        ({"title": "X", "isbn": ISBNS[0], "author_id": "a", "price": "-1"}, 422),
        ({"title": "X", "isbn": ISBNS[0], "author_id": "a", "genre": "poetry"}, 422),
        ({"title": "X", "isbn": ISBNS[0], "author_id": "a", "extra": 1}, 422),
        ({"title": "X"}, 422),
    ],
)
async def test_bad_bodies_are_422_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    headers = await bearer(client, EDITOR)
    before = len((await client.get("/books", params={"limit": 100})).json()["items"])
    response = await client.post("/books", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    after = len((await client.get("/books", params={"limit": 100})).json()["items"])
    assert after == before


async def test_patch_rejects_nulls_for_required_fields(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, EDITOR)
    data = await _seed(client, headers)
    book_id = data["books"][0]["id"]
    response = await client.patch(
        f"/books/{book_id}", json={"title": None, "version": 1}, headers=headers
    )
    assert response.status_code == 422
    cleared = await client.patch(
        f"/books/{book_id}", json={"published_on": None, "version": 1}, headers=headers
    )
    assert cleared.status_code == 200
    bad_isbn = await client.patch(
        f"/books/{book_id}", json={"isbn": "1234567890", "version": 2}, headers=headers
    )
    assert bad_isbn.status_code == 422
    assert (await client.get(f"/books/{book_id}")).json()["version"] == 2
