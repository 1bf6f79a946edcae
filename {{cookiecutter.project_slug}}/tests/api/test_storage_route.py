"""The local signed-URL routes over HTTP (in-process, httpx ASGITransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request

from {{cookiecutter.package_name}}.adapters.http.deps import get_object_storage
from {{cookiecutter.package_name}}.adapters.http.errors import install_error_handlers
from {{cookiecutter.package_name}}.adapters.http.routers.storage import (
    build_local_export_storage_router,
)
from {{cookiecutter.package_name}}.adapters.storage.local import LocalObjectStorage
from {{cookiecutter.package_name}}.adapters.storage.s3 import S3ObjectStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(tmp_path: Path, clock: Clock) -> LocalObjectStorage:
    return LocalObjectStorage(tmp_path, "http://testserver", "route-secret", clock=clock)


def make_app(storage: object, **router_options: Any) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.dependency_overrides[get_object_storage] = lambda: storage  # the configured storage
    app.include_router(build_local_export_storage_router(**router_options))
    return app


@pytest.fixture
async def client(storage: LocalObjectStorage) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(storage)) as http:
        yield http


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


# --- download ------------------------------------------------------------------------------------


async def test_download_streams_the_bytes_with_the_stored_content_type(
    storage: LocalObjectStorage, client: httpx.AsyncClient
) -> None:
    payload = b"id,name\n" + b"1,Ada\n" * 50_000  # several chunks
    await storage.upload("exports/report.csv", payload, "text/csv")

    answer = await client.get(await storage.generate_presigned_url("exports/report.csv"))

    assert answer.status_code == 200
    assert answer.content == payload
    assert answer.headers["content-type"] == "text/csv"
    assert answer.headers["content-length"] == str(len(payload))
    assert answer.headers["content-disposition"] == 'attachment; filename="report.csv"; ' + (
        "filename*=UTF-8''report.csv"
    )
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_expired_url_is_403(
    storage: LocalObjectStorage, client: httpx.AsyncClient, clock: Clock
) -> None:
    await storage.upload("a.txt", b"a")
    url = await storage.generate_presigned_url("a.txt", expires_in=10)
    clock.now += 11

    answer = await client.get(url)

    assert answer.status_code == 403
    assert answer.json() == {"error": "forbidden", "message": "the signed URL has expired"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: with_query(url, signature="0" * 64),
        lambda url: with_query(url, expires=str(2_000_000_000)),
        lambda url: url.replace("/a.txt", "/b.txt"),
        lambda url: url.split("?")[0],
    ],
    ids=["signature", "expiry", "key", "unsigned"],
)
async def test_tampered_url_is_403(
    storage: LocalObjectStorage, client: httpx.AsyncClient, tamper: Callable[[str], str]
) -> None:
    await storage.upload("a.txt", b"a")
    await storage.upload("b.txt", b"b")

    answer = await client.get(tamper(await storage.generate_presigned_url("a.txt")))

    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"


async def test_missing_object_is_404(
    storage: LocalObjectStorage, client: httpx.AsyncClient
) -> None:
    answer = await client.get(await storage.generate_presigned_url("never/uploaded.txt"))

    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


async def test_bad_key_with_a_forged_signature_never_reaches_the_disk(
    storage: LocalObjectStorage, client: httpx.AsyncClient
) -> None:
    answer = await client.get(
        "/storage/objects/..%2F..%2Fetc%2Fpasswd?expires=9999999999&signature=x"
    )

    assert answer.status_code in (403, 404)


# --- authorizer ----------------------------------------------------------------------------------


def user_from_header(request: Request) -> str | None:
    """A stand-in for the host's optional current-user dependency."""
    return request.headers.get("x-user")


async def test_authorizer_denying_is_403(storage: LocalObjectStorage) -> None:
    await storage.upload("alice/report.csv", b"alice's", "text/csv")
    seen: list[tuple[object, str]] = []

    def only_owner(user: object, key: str) -> bool:
        seen.append((user, key))
        return isinstance(user, str) and key.startswith(f"{user}/")

    app = make_app(storage, current_user=user_from_header, authorize=only_owner)
    url = await storage.generate_presigned_url("alice/report.csv")
    async with client_for(app) as http:
        denied = await http.get(url, headers={"x-user": "bob"})
        anonymous = await http.get(url)
        allowed = await http.get(url, headers={"x-user": "alice"})

    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    assert anonymous.status_code == 403
    assert allowed.status_code == 200
    assert allowed.content == b"alice's"
    assert seen == [
        ("bob", "alice/report.csv"),
        (None, "alice/report.csv"),
        ("alice", "alice/report.csv"),
    ]


async def test_async_authorizer_without_a_user_dependency(storage: LocalObjectStorage) -> None:
    await storage.upload("public/a.txt", b"a")
    await storage.upload("private/b.txt", b"b")

    async def public_only(user: object, key: str) -> bool:
        assert user is None
        return key.startswith("public/")

    async with client_for(make_app(storage, authorize=public_only)) as http:
        ok = await http.get(await storage.generate_presigned_url("public/a.txt"))
        denied = await http.get(await storage.generate_presigned_url("private/b.txt"))

    assert (ok.status_code, denied.status_code) == (200, 403)


async def test_authorizer_is_not_asked_when_the_signature_is_bad(
    storage: LocalObjectStorage,
) -> None:
    calls: list[str] = []

    def allow_all(user: object, key: str) -> bool:
        calls.append(key)
        return True

    await storage.upload("a.txt", b"a")
    url = with_query(await storage.generate_presigned_url("a.txt"), signature="f" * 64)
    async with client_for(make_app(storage, authorize=allow_all)) as http:
        answer = await http.get(url)

    assert answer.status_code == 403
    assert calls == []


async def test_without_an_authorizer_the_signature_alone_governs(
    storage: LocalObjectStorage, client: httpx.AsyncClient
) -> None:
    await storage.upload("a.txt", b"a")

    signed_by_anyone = await client.get(await storage.generate_presigned_url("a.txt"))
    signed_in_but_unsigned = await client.get(
        "/storage/objects/a.txt", headers={"Authorization": "Bearer some-valid-token"}
    )

    assert signed_by_anyone.status_code == 200
    assert signed_in_but_unsigned.status_code == 403


def test_a_user_dependency_without_an_authorizer_is_refused() -> None:
    with pytest.raises(ValueError, match="authorize"):
        build_local_export_storage_router(current_user=user_from_header)


# --- storage resolution --------------------------------------------------------------------------


async def test_storage_passed_explicitly(storage: LocalObjectStorage) -> None:
    await storage.upload("a.txt", b"explicit")
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_local_export_storage_router(storage=storage))

    async with client_for(app) as http:
        answer = await http.get(await storage.generate_presigned_url("a.txt"))

    assert answer.content == b"explicit"


async def test_routes_are_404_when_the_configured_storage_is_not_local(
    storage: LocalObjectStorage,
) -> None:
    await storage.upload("a.txt", b"a")
    async with client_for(make_app(S3ObjectStorage("some-bucket"))) as http:
        answer = await http.get(await storage.generate_presigned_url("a.txt"))

    assert answer.status_code == 404


# --- signed upload (PUT) -------------------------------------------------------------------------


async def test_signed_put_stores_the_body(
    storage: LocalObjectStorage, client: httpx.AsyncClient
) -> None:
    upload = await storage.generate_presigned_upload("in/data.json", expires_in=60)

    answer = await client.put(upload.url, headers=upload.headers, content=b'{"a": 1}')

    assert answer.status_code == 200
    assert answer.json() == {"key": "in/data.json", "size": 8}
    assert await storage.download("in/data.json") == b'{"a": 1}'
    assert (await storage.stat("in/data.json")).content_type == "application/json"


async def test_signed_put_rejects_another_content_type_a_get_signature_and_expiry(
    storage: LocalObjectStorage, client: httpx.AsyncClient, clock: Clock
) -> None:
    upload = await storage.generate_presigned_upload("in/p.png", "image/png", expires_in=60)

    other_type = await client.put(upload.url, headers={"Content-Type": "text/html"}, content=b"x")
    get_url = await storage.generate_presigned_url("in/p.png")
    with_get_signature = await client.put(get_url, headers=upload.headers, content=b"x")
    clock.now += 61
    expired = await client.put(upload.url, headers=upload.headers, content=b"x")

    assert [other_type.status_code, with_get_signature.status_code, expired.status_code] == [
        403,
        403,
        403,
    ]
    assert not await storage.exists("in/p.png")


async def test_signed_put_over_the_size_limit_is_413_and_stores_nothing(
    storage: LocalObjectStorage, tmp_path: Path
) -> None:
    app = make_app(storage, max_upload_bytes=1000)
    upload = await storage.generate_presigned_upload("in/big.bin")

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced live
        for _ in range(5):
            yield b"z" * 300

    async with client_for(app) as http:
        declared = await http.put(upload.url, headers=upload.headers, content=b"z" * 1001)
        streamed = await http.put(upload.url, headers=upload.headers, content=body())

    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert not await storage.exists("in/big.bin")
    assert files_under(tmp_path) == []


async def test_upload_route_can_be_left_out(storage: LocalObjectStorage) -> None:
    upload = await storage.generate_presigned_upload("in/x.txt")
    async with client_for(make_app(storage, allow_upload=False)) as http:
        answer = await http.put(upload.url, headers=upload.headers, content=b"x")

    assert answer.status_code == 405
