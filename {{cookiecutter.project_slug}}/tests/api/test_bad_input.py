"""Bad input the list and write routes must refuse with a specific 4xx, changing nothing (on the
kit's test feature, tests/support/app.py),
and the request limits of adapters/http/limits.py: body size (413) and time (503).

(The example feature has its own cases in tests/library/.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from tests.support.app import EDITOR, WIDGET_ID, bearer, kit_app, memory_settings

BODY_LIMIT = 2048
TIMEOUT = 0.3
UNREACHED_TIMEOUT = 600.0


@pytest.fixture
async def limited_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The real app with a small body limit and test routes. Its request timeout is TIMEOUT on
    looptime's fake clock (the time tests), and a budget no busy machine reaches otherwise (the
    size tests must not depend on how fast the machine is)."""
    fake_clock = request.node.get_closest_marker("looptime") is not None
    application = kit_app(
        memory_settings(
            tmp_path,
            max_request_body_bytes=BODY_LIMIT,
            request_timeout_seconds=TIMEOUT if fake_clock else UNREACHED_TIMEOUT,
        )
    )
    application.state.cancelled = []

    async def slow(request: Request) -> dict[str, str]:
        try:
            await asyncio.sleep(TIMEOUT * 20)
        except asyncio.CancelledError:
            request.app.state.cancelled.append(request.url.path)
            raise
        return {"status": "late"}

    async def slow_stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                await asyncio.sleep(TIMEOUT / 2)
                yield b"chunk;"

        return StreamingResponse(chunks(), media_type="text/plain")

    async def echo_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    application.add_api_route("/test/slow", slow)
    application.add_api_route("/test/stream", slow_stream)
    application.add_api_route("/test/echo", echo_size, methods=["POST"])
    async with application.router.lifespan_context(application):
        identity = application.state.services.identity_provider
        await identity.ensure_user(EDITOR[0], EDITOR[0], EDITOR[1], roles=("editor",))
        yield application


@pytest.fixture
async def limited(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _owner_count(client: httpx.AsyncClient) -> int:
    page = await client.get("/owners", params={"limit": 100})
    assert page.status_code == 200, page.text
    return len(page.json()["items"])


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert body["message"]


# --- body size ---------------------------------------------------------------------------


async def test_a_declared_oversized_body_is_413_and_stores_nothing(
    limited: httpx.AsyncClient,
) -> None:
    headers = await bearer(limited, EDITOR)
    before = await _owner_count(limited)
    body = json.dumps({"name": "x", "email": "y" * BODY_LIMIT}).encode()

    response = await limited.post(
        "/owners", content=body, headers={**headers, "Content-Type": "application/json"}
    )

    _assert_error(response, 413, "payload_too_large")
    assert str(BODY_LIMIT) in response.json()["message"]
    assert await _owner_count(limited) == before


async def test_a_streamed_oversized_body_is_413_and_stores_nothing(
    limited: httpx.AsyncClient,
) -> None:
    """No Content-Length (chunked): counted while it arrives, refused past the limit."""
    headers = await bearer(limited, EDITOR)
    before = await _owner_count(limited)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "streamed", "email": "'
        for _ in range(10):
            sent.append(512)
            yield b"y" * 512
        yield b'"}'

    response = await limited.post(
        "/owners", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )

    _assert_error(response, 413, "payload_too_large")
    assert await _owner_count(limited) == before


async def test_bodies_within_the_limit_pass(limited: httpx.AsyncClient) -> None:
    small = await limited.post("/test/echo", content=b"z" * BODY_LIMIT)
    assert small.json() == {"size": BODY_LIMIT}
    created = await limited.post(
        "/owners", json={"name": "fits"}, headers=await bearer(limited, EDITOR)
    )
    assert created.status_code == 201, created.text


async def test_the_storage_upload_route_keeps_its_own_limit(
    limited_app: FastAPI, limited: httpx.AsyncClient
) -> None:
    storage = limited_app.state.services.object_storage
    upload = await storage.generate_presigned_upload("big/blob.bin", expires_in=60)
    path = httpx.URL(upload.url).raw_path.decode()

    response = await limited.put(path, headers=upload.headers, content=b"b" * (BODY_LIMIT * 4))

    assert response.status_code == 200, response.text
    assert response.json()["size"] == BODY_LIMIT * 4


# --- time ---------------------------------------------------------------------------------
# These run on looptime's fake clock: the event loop's time moves only when every coroutine is
# waiting, straight to the next timer, so a busy machine cannot make a 0.3 s budget late (and
# the tests take no real time).


@pytest.mark.looptime
async def test_a_request_past_the_timeout_is_503_and_its_work_is_cancelled(
    limited_app: FastAPI, limited: httpx.AsyncClient
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await limited.get("/test/slow")

    elapsed = loop.time() - started
    _assert_error(response, 503, "backend_unavailable")
    assert response.headers["Retry-After"].isdigit()
    assert elapsed < TIMEOUT * 5
    for _ in range(100):  # the cancelled work unwinds in the background, right after
        if limited_app.state.cancelled:
            break
        await asyncio.sleep(0.01)
    assert limited_app.state.cancelled == ["/test/slow"]


@pytest.mark.looptime
async def test_an_answer_that_started_in_time_may_stream_longer(
    limited: httpx.AsyncClient,
) -> None:
    response = await limited.get("/test/stream")
    assert response.status_code == 200
    assert response.text == "chunk;" * 4


@pytest.mark.looptime
async def test_a_body_still_arriving_restarts_the_clock(limited: httpx.AsyncClient) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(4):
            await asyncio.sleep(TIMEOUT / 2)
            yield b"t" * 10

    response = await limited.post("/test/echo", content=trickle())
    assert response.json() == {"size": 40}


# --- bad list parameters and bodies --------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"filter": '{"price": NaN}'}, 400, "invalid_query"),
        ({"filter": '{"price": {"gte": Infinity}}'}, 400, "invalid_query"),
        ({"filter": "[" * 2000 + "]" * 2000}, 400, "invalid_query"),
        ({"filter": json.dumps({"price": {"gte": "abc"}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"released_on": {"lt": "not-a-date"}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"tags": {"in": 5}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"name": {"eq": {"a": 1}}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"name": {"between": [1]}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"name": {"exists": "yes"}})}, 400, "invalid_query"),
        ({"filter": json.dumps({"owner.nope": 1})}, 400, "invalid_query"),
        ({"filter": json.dumps({"": 1})}, 400, "invalid_query"),
        ({"filter": json.dumps({"status": "poetry"})}, 400, "invalid_query"),
        ({"filter": json.dumps({"id": {"in": list(range(2000))}})}, 422, "validation_error"),
        ({"sort": "owner.name"}, 400, "invalid_query"),
        ({"sort": "-,-"}, 400, "invalid_query"),
        ({"limit": 10**30}, 400, "invalid_query"),
        ({"offset": 10**6}, 400, "invalid_query"),
        ({"cursor": "A" * 4000}, 400, "invalid_cursor"),
        ({"cursor": "eyJ4IjoxfQ"}, 400, "invalid_cursor"),
        ({"cursor": "x" * 5000}, 422, "validation_error"),
        ({"include": "owner." * 50}, 400, "invalid_query"),
    ],
)
async def test_more_bad_list_parameters_are_4xx(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, error: str
) -> None:
    response = await client.get("/widgets", params=params)
    _assert_error(response, status, error)


async def test_a_cursor_is_only_valid_for_its_own_sort_order(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, EDITOR)
    for name in ("P1", "P2", "P3"):
        body = {"name": name, "email": f"{name}@example.org"}
        created = await client.post("/owners", json=body, headers=headers)
        assert created.status_code == 201, created.text
    first = await client.get("/owners", params={"limit": 1, "sort": "name"})
    cursor = first.json()["next_cursor"]
    assert cursor

    other_collection = await client.get("/widgets", params={"cursor": cursor})
    other_sort = await client.get("/owners", params={"cursor": cursor, "sort": "-name"})
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]  # corrupted tail
    tampered = await client.get("/owners", params={"cursor": flipped, "sort": "name"})
    same = await client.get("/owners", params={"cursor": cursor, "sort": "name"})

    for response in (other_collection, other_sort, tampered):
        _assert_error(response, 400, "invalid_cursor")
    assert same.status_code == 200


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"\xff\xfe", 422, "validation_error"),
        # Nested past every Python's C recursion limit (3.12 stops near 1,000 levels, 3.13 near
        # 10,000): the body cannot be parsed at all, so it is a 400 on every offered Python.
        (b"[" * 100_000 + b"]" * 100_000, 400, "bad_request"),
        (b"null", 422, "validation_error"),
        (b'{"name": "\\ud800"}', 422, "validation_error"),
        (b'{"name": ""}', 422, "validation_error"),
        (b'{"name": "x", "version": 1}', 422, "validation_error"),
    ],
)
async def test_bad_json_bodies_are_4xx_and_change_nothing(
    client: httpx.AsyncClient, content: bytes, status: int, error: str
) -> None:
    headers = await bearer(client, EDITOR)
    before = await _owner_count(client)
    response = await client.post(
        "/owners", content=content, headers={**headers, "Content-Type": "application/json"}
    )
    _assert_error(response, status, error)
    assert await _owner_count(client) == before


async def test_versions_beyond_64_bits_are_refused_at_the_edge(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, EDITOR)
    widget = f"/widgets/{WIDGET_ID}"
    patch = await client.patch(widget, json={"version": 2**63, "name": "x"}, headers=headers)
    delete = await client.delete(widget, params={"version": 2**63}, headers=headers)
    _assert_error(patch, 422, "validation_error")
    _assert_error(delete, 422, "validation_error")
    assert (await client.get(widget)).json()["version"] == 1
