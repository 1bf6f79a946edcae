"""What a careless or hostile caller must never achieve, on memory and on PostgreSQL: a write
the domain refuses, two spellings of one unique value, an orphan, a foreign cursor, or an error
body that names a driver or an exception class."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from {{cookiecutter.package_name}}.main import create_app

from tests.support.app import EDITOR, bearer, memory_settings
from tests.support.leaks import assert_no_leak
from tests.support.postgres_scratch import create_scratch_database, drop_scratch_database

ISBNS = ["9780306406157", "9780131103627"]


@pytest.fixture(params=["memory", "postgres"])
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    overrides: dict[str, Any] = {"seed_demo_data": False}
    scratch = None
    if request.param == "postgres":
        scratch = await create_scratch_database()
        overrides.update(repo_database="postgres", postgres_dsn=scratch)
    application = create_app(memory_settings(tmp_path, **overrides))
    try:
        async with application.router.lifespan_context(application):
            identity = application.state.services.identity_provider
            await identity.ensure_user(EDITOR[0], EDITOR[0], EDITOR[1], roles=("editor",))
            yield application
    finally:
        if scratch is not None:
            await drop_scratch_database(scratch)


@pytest.fixture
async def editor(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        http.headers.update(await bearer(http, EDITOR))
        yield http


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _library(client: httpx.AsyncClient) -> dict[str, Any]:
    publisher = await _post(client, "/publishers", {"name": "Acme"})
    author = await _post(
        client, "/authors", {"name": "Ada", "email": "ada@acme.io", "publisher_id": publisher["id"]}
    )
    books = [
        await _post(client, "/books", {"title": f"B{n}", "isbn": isbn, "author_id": author["id"]})
        for n, isbn in enumerate(ISBNS)
    ]
    return {"publisher": publisher, "author": author, "books": books}


@pytest.mark.parametrize(
    ("resource", "changes"),
    [
        ("books", {"title": "   "}),
        ("books", {"isbn": "9780306406158"}),  # wrong check digit
        ("books", {"isbn": "978030640615\u00b2"}),  # isdigit() says yes, int() says no
        ("books", {"isbn": "\u0669\u0667\u0668" + "0306406157"}),  # Arabic-Indic digits
        ("books", {"isbn": "\uff19\uff17\uff18" + "0306406157"}),  # fullwidth digits
        ("publishers", {"name": "  "}),
        ("authors", {"email": "not an email"}),
    ],
)
async def test_a_patch_the_domain_refuses_is_422_and_changes_nothing(
    editor: httpx.AsyncClient, resource: str, changes: dict[str, Any]
) -> None:
    data = await _library(editor)
    created = {
        "books": data["books"][0],
        "publishers": data["publisher"],
        "authors": data["author"],
    }
    before = (await editor.get(f"/{resource}/{created[resource]['id']}")).json()
    response = await editor.patch(f"/{resource}/{before['id']}", json={**changes, "version": 1})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "domain_rule"
    assert_no_leak(response)
    after = await editor.get(f"/{resource}/{before['id']}")
    assert after.status_code == 200, after.text
    assert after.json() == before  # same values, same version
    listed = await editor.get(f"/{resource}", params={"limit": 100})
    assert listed.status_code == 200, listed.text


async def test_one_isbn_in_another_spelling_is_still_taken(editor: httpx.AsyncClient) -> None:
    data = await _library(editor)
    second = data["books"][1]
    hyphenated = "978-0-306-40615-7"  # the first book's ISBN, hyphenated
    response = await editor.patch(f"/books/{second['id']}", json={"isbn": hyphenated, "version": 1})
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "already_exists"
    created = await editor.post(
        "/books", json={"title": "Again", "isbn": hyphenated, "author_id": data["author"]["id"]}
    )
    assert created.status_code == 409, created.text
    renamed = await editor.patch(
        f"/books/{second['id']}", json={"isbn": "978-0-13-468599-1", "version": 1}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["isbn"] == "9780134685991"  # stored normalised


async def test_references_are_enforced(editor: httpx.AsyncClient) -> None:
    data = await _library(editor)
    missing = await editor.post(
        "/authors", json={"name": "Bob", "email": "bob@acme.io", "publisher_id": "nope"}
    )
    assert missing.status_code == 422, missing.text
    assert missing.json()["error"] == "reference_not_found"
    repoint = await editor.patch(
        f"/books/{data['books'][0]['id']}", json={"author_id": "nope", "version": 1}
    )
    assert repoint.status_code == 422, repoint.text
    busy = await editor.delete(f"/publishers/{data['publisher']['id']}")
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"] == "still_referenced"
    for response in (missing, repoint, busy):
        assert_no_leak(response)


@pytest.mark.concurrency
async def test_authors_racing_the_delete_of_their_publisher_leave_no_orphan(
    editor: httpx.AsyncClient,
) -> None:
    for round_number in range(5):
        publisher = await _post(editor, "/publishers", {"name": f"P{round_number}"})
        creates = [
            editor.post(
                "/authors",
                json={
                    "name": f"A{n}",
                    "email": f"a{round_number}-{n}@acme.io",
                    "publisher_id": publisher["id"],
                },
            )
            for n in range(10)
        ]
        responses = await asyncio.gather(*creates, editor.delete(f"/publishers/{publisher['id']}"))
        assert {r.status_code for r in responses} <= {201, 204, 409, 422}, [
            r.text for r in responses
        ]
        authors = await editor.get(
            "/authors",
            params={"filter": json.dumps({"publisher_id": publisher["id"]}), "limit": 100},
        )
        gone = (await editor.get(f"/publishers/{publisher['id']}")).status_code == 404
        if gone:
            assert authors.json()["items"] == [], f"round {round_number}: orphans"
        else:
            assert responses[-1].status_code == 409


async def test_a_cursor_pages_only_the_list_that_issued_it(editor: httpx.AsyncClient) -> None:
    await _library(editor)
    await _post(editor, "/publishers", {"name": "Second"})
    page = (await editor.get("/publishers", params={"limit": 1})).json()
    assert page["next_cursor"]
    foreign = await editor.get("/books", params={"limit": 1, "cursor": page["next_cursor"]})
    assert foreign.status_code == 400, foreign.text
    assert foreign.json()["error"] == "invalid_cursor"
    refiltered = await editor.get(
        "/publishers",
        params={
            "limit": 1,
            "cursor": page["next_cursor"],
            "filter": json.dumps({"name": {"ne": "x"}}),
        },
    )
    assert refiltered.status_code == 400, refiltered.text


@pytest.mark.parametrize(
    "filter_",
    [
        {"version": {"gt": 100000000000000000000}},
        {"created_at": {"lt": "9999-12-31T23:00:00-05:00"}},
        {"title": {"contains": "a\u0000b"}},
        {"title": "a\u0000b"},
        {"price": {"gt": "1e400"}},
    ],
)
async def test_values_no_backend_can_hold_are_400_on_every_backend(
    editor: httpx.AsyncClient, filter_: dict[str, Any]
) -> None:
    await _library(editor)
    response = await editor.get("/books", params={"filter": json.dumps(filter_)})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_query"
    assert_no_leak(response)
