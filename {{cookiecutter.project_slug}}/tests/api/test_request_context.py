"""Request ids, the access line, error logs and redaction (adapters/http/request_context.py,
adapters/observability/logging.py), and CORS (adapters/http/cors.py), on the real app."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from {{cookiecutter.package_name}}.adapters.observability.logging import configure_logging

from tests.support.app import ADMIN, WIDGET_ID, bearer, kit_app, memory_settings

TIMEOUT = 0.5
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJzb21lb25lIiwicm9sZXMiOlsiYWRtaW4iXX0."
    "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
)
SECRETS = ("hunter2-is-my-password", JWT, "deadbeefsignature", "AKIAEXAMPLECREDENTIAL")

driver_logger = logging.getLogger("some.driver")


def _app(tmp_path: Path, **overrides: Any) -> FastAPI:
    application = kit_app(memory_settings(tmp_path, request_timeout_seconds=TIMEOUT, **overrides))

    async def chatty(request: Request) -> dict[str, str]:
        # A careless route: headers, the query string and a DSN straight into the logs.
        logging.getLogger("probe").info("headers %s query %s", request.headers, request.url.query)
        driver_logger.warning("connect failed: postgresql://svc:hunter2-is-my-password@db/app")
        await asyncio.sleep(0)
        return {"ok": "yes"}

    async def boom(request: Request) -> dict[str, str]:
        raise RuntimeError(f"password=hunter2-is-my-password token {JWT}")

    async def slow() -> dict[str, str]:
        await asyncio.sleep(TIMEOUT * 10)
        return {}

    application.add_api_route("/test/chatty", chatty)
    application.add_api_route("/test/boom", boom)
    application.add_api_route("/test/slow", slow)
    return application


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = _app(tmp_path)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def log() -> io.StringIO:
    """Everything the service logs from now on, as JSON lines (as in production)."""
    stream = io.StringIO()
    configure_logging(level="DEBUG", json_lines=True, stream=stream)
    return stream


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def lines(log: io.StringIO) -> list[dict[str, Any]]:
    """The service's lines (not those of the test's own HTTP client)."""
    found = [json.loads(line) for line in log.getvalue().splitlines() if line.strip()]
    return [line for line in found if line["logger"] != "httpx"]


def of_request(log: io.StringIO, request_id: str) -> list[dict[str, Any]]:
    return [line for line in lines(log) if line.get("request_id") == request_id]


def access_lines(log: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines(log) if line["logger"].endswith(".access")]


# --- the request id ------------------------------------------------------------------------------


async def test_every_answer_carries_a_generated_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/no/such/route")

    assert GENERATED_ID.fullmatch(first.headers["X-Request-ID"])
    assert GENERATED_ID.fullmatch(second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert second.status_code == 404


@pytest.mark.parametrize(
    "incoming", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c:d+e/f=", "x" * 128]
)
async def test_a_well_formed_incoming_id_is_kept(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": incoming})

    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming", ["", "x" * 129, "has space", "semi;colon", 'quote"d', "new\\nline", "é"]
)
async def test_a_malformed_incoming_id_is_replaced(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get(
        "/health/live", headers=[(b"x-request-id", incoming.encode("utf-8"))]
    )

    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
    assert response.headers.get_list("X-Request-ID") == [response.headers["X-Request-ID"]]


async def test_errors_and_timeouts_carry_the_request_id_too(client: httpx.AsyncClient) -> None:
    too_large = await client.post("/owners", content=b"x" * (2 * 1024 * 1024))
    timed_out = await client.get("/test/slow", headers={"X-Request-ID": "slow-1"})
    failed = await client.get("/test/boom", headers={"X-Request-ID": "boom-1"})

    assert too_large.status_code == 413
    assert GENERATED_ID.fullmatch(too_large.headers["X-Request-ID"])
    assert timed_out.status_code == 503
    assert timed_out.headers["X-Request-ID"] == "slow-1"
    assert failed.status_code == 500
    assert failed.headers["X-Request-ID"] == "boom-1"
    assert failed.json() == {
        "error": "internal_error",
        "message": "the service failed to answer",
        "request_id": "boom-1",
    }


# --- the logs of a request -----------------------------------------------------------------------


async def test_every_line_of_a_request_has_its_id_and_one_access_line_ends_it(
    client: httpx.AsyncClient, log: io.StringIO
) -> None:
    response = await client.get("/test/chatty", headers={"X-Request-ID": "req-42"})

    assert response.status_code == 200
    mine = of_request(log, "req-42")
    assert [line["logger"] for line in mine[:2]] == ["probe", "some.driver"]
    access = mine[-1]
    assert access["logger"].endswith(".access")
    assert access["method"] == "GET"
    assert access["route"] == "/test/chatty"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert access["message"].startswith("GET /test/chatty 200 ")
    assert {"timestamp", "level"} <= set(access)
    assert all(line.get("request_id") for line in lines(log)), "a line without a request id"


async def test_the_access_line_names_the_route_template_not_the_path(
    client: httpx.AsyncClient, log: io.StringIO
) -> None:
    headers = await bearer(client, ADMIN)
    await client.get(f"/widgets/{WIDGET_ID}", headers=headers)
    await client.get("/widgets/does-not-exist", headers=headers)
    await client.get("/no/such/route?token=abc")

    found = [(line["route"], line["status"]) for line in access_lines(log)][-3:]
    assert found == [("/widgets/{id}", 200), ("/widgets/{id}", 404), ("/no/such/route", 404)]


async def test_an_unhandled_error_is_logged_once_with_its_request_id(
    client: httpx.AsyncClient, log: io.StringIO
) -> None:
    await client.get("/test/boom", headers={"X-Request-ID": "boom-2"})

    errors = [line for line in lines(log) if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "boom-2"
    assert "RuntimeError" in errors[0]["exception"]
    assert errors[0]["message"] == "unhandled error on GET /test/boom"
    assert access_lines(log)[-1]["status"] == 500


async def test_a_timeout_is_logged_with_its_request_id(
    client: httpx.AsyncClient, log: io.StringIO
) -> None:
    await client.get("/test/slow", headers={"X-Request-ID": "slow-2"})

    mine = of_request(log, "slow-2")
    assert any("timed out" in line["message"] for line in mine)
    assert mine[-1]["status"] == 503


async def test_the_access_line_can_be_turned_off(tmp_path: Path, log: io.StringIO) -> None:
    application = _app(tmp_path, access_log=False)
    configure_logging(level="DEBUG", json_lines=True, stream=log)  # create_app configured again
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/health/live")

    assert response.headers["X-Request-ID"]
    assert access_lines(log) == []


# --- no secret in the logs -----------------------------------------------------------------------


async def test_no_secret_or_token_reaches_the_logs(
    client: httpx.AsyncClient, log: io.StringIO
) -> None:
    await client.post(
        "/auth/login", json={"username": ADMIN[0], "password": "hunter2-is-my-password"}
    )
    token = await bearer(client, ADMIN)
    await client.get(
        "/test/chatty",
        params={"signature": "deadbeefsignature", "X-Amz-Credential": "AKIAEXAMPLECREDENTIAL"},
        headers={**token, "Cookie": f"session={JWT}", "X-Api-Key": JWT},
    )
    await client.get(f"/test/boom?access_token={JWT}", headers={"Authorization": f"Bearer {JWT}"})
    await client.get(f"/widgets/{WIDGET_ID}", headers={"Authorization": "Basic dXNlcjpodW50ZXIy"})

    text = log.getvalue()
    assert "GET /test/chatty" in text  # the lines are there
    assert "RuntimeError" in text
    for secret in (*SECRETS, token["Authorization"].split()[1], ADMIN[1], "dXNlcjpodW50ZXIy"):
        assert secret not in text
    assert "[REDACTED]" in text


async def test_text_lines_carry_the_request_id_and_are_redacted(
    client: httpx.AsyncClient,
) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json_lines=False, stream=stream)

    await client.get("/test/chatty", headers={"X-Request-ID": "text-1", "X-Api-Key": JWT})

    text = [line for line in stream.getvalue().splitlines() if " httpx: " not in line]
    assert text
    assert all("[text-1]" in line for line in text)
    assert any(re.search(r" INFO  \[text-1\] \S+\.access: GET /test/chatty 200 ", x) for x in text)
    assert JWT not in stream.getvalue()


def test_uvicorn_access_log_is_off_and_its_other_logs_go_through_the_service_handler(
    tmp_path: Path,
) -> None:
    kit_app(memory_settings(tmp_path))

    assert logging.getLogger("uvicorn.access").disabled
    assert logging.getLogger("uvicorn.error").propagate
    assert not logging.getLogger("uvicorn").handlers


# --- CORS ----------------------------------------------------------------------------------------


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/owners",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    simple = await client.get("/health/live", headers={"Origin": "https://app.example"})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allows_the_listed_origins_only(tmp_path: Path) -> None:
    application = _app(
        tmp_path, cors_allow_origins="https://app.example", cors_allow_credentials=True
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            allowed = await http.options(
                "/owners",
                headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            refused = await http.options(
                "/owners",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
            simple = await http.get("/health/live", headers={"Origin": "https://app.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["X-Request-ID"]
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed
