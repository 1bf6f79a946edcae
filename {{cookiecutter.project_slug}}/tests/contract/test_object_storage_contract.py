"""One contract for every ObjectStorage adapter: local (temp dir) and S3 (moto's server).

Presigned URLs are fetched with a plain httpx client: over the network for S3, and through the
FastAPI route in-process (ASGITransport) for the local adapter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{cookiecutter.package_name}}.adapters.http.deps import get_object_storage
from {{cookiecutter.package_name}}.adapters.http.errors import install_error_handlers
from {{cookiecutter.package_name}}.adapters.http.routers.storage import (
    build_local_export_storage_router,
)
from {{cookiecutter.package_name}}.adapters.storage.local import LocalObjectStorage
from {{cookiecutter.package_name}}.adapters.storage.s3 import (
    MIN_PART_SIZE,
    S3ObjectStorage,
)
from {{cookiecutter.package_name}}.ports.errors import (
    BackendUnavailable,
    InvalidInput,
    NotFound,
)
from {{cookiecutter.package_name}}.ports.storage import ObjectStorage

from tests.support.aws import aws_session
from tests.support.services import free_port, port_open

MiB = 1024 * 1024


@dataclass
class Backend:
    name: str
    storage: ObjectStorage
    http: httpx.AsyncClient  # a plain HTTP client that fetches presigned URLs


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "local":
        local = LocalObjectStorage(tmp_path / "objects", "http://testserver", "contract-secret")
        app = FastAPI()
        install_error_handlers(app)
        app.dependency_overrides[get_object_storage] = lambda: local  # the configured one
        app.include_router(build_local_export_storage_router())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
            yield Backend("local", local, http)
        return
    endpoint: str = request.getfixturevalue("moto_endpoint")
    s3 = S3ObjectStorage(
        f"contract-{uuid.uuid4().hex[:16]}",
        endpoint_url=endpoint,
        part_size=MIN_PART_SIZE,
        session=aws_session(),
    )
    async with s3, httpx.AsyncClient() as http:
        await s3.ensure_bucket()
        yield Backend("s3", s3, http)


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing_stream(good: bytes, fail_after: int) -> AsyncIterator[bytes]:
    for _ in range(fail_after):
        yield good
    raise RuntimeError("the producer died half way")


def big_payload(chunks: int, chunk_size: int = MiB) -> list[bytes]:
    """Distinct chunks, so reordered or dropped parts would show."""
    return [bytes([i % 251]) * (chunk_size - 8) + i.to_bytes(8, "big") for i in range(chunks)]


# --- upload / download ---------------------------------------------------------------------------


async def test_upload_bytes_then_download(backend: Backend) -> None:
    key = await backend.storage.upload("exports/report.csv", b"id,name\n1,Ada\n", "text/csv")

    assert key == "exports/report.csv"
    assert await backend.storage.download(key) == b"id,name\n1,Ada\n"
    assert await backend.storage.exists(key)


async def test_upload_empty_object(backend: Backend) -> None:
    await backend.storage.upload("empty.bin", b"")

    assert await backend.storage.download("empty.bin") == b""
    assert (await backend.storage.stat("empty.bin")).size == 0


async def test_upload_async_stream_larger_than_a_part(backend: Backend) -> None:
    parts = big_payload(12)  # 12 MiB: three S3 multipart parts of 5 MiB

    await backend.storage.upload("big/stream.bin", chunks_of(*parts), "application/octet-stream")

    assert await backend.storage.download("big/stream.bin") == b"".join(parts)
    assert (await backend.storage.stat("big/stream.bin")).size == 12 * MiB


async def test_upload_small_async_stream(backend: Backend) -> None:
    await backend.storage.upload("small.txt", chunks_of(b"he", b"", b"llo"), "text/plain")

    assert await backend.storage.download("small.txt") == b"hello"


async def test_stream_download_in_chunks(backend: Backend) -> None:
    payload = bytes(range(256)) * 1000
    await backend.storage.upload("streamed.bin", payload)

    chunks = [chunk async for chunk in backend.storage.stream("streamed.bin", chunk_size=10_000)]

    assert b"".join(chunks) == payload
    assert len(chunks) > 1
    assert all(len(chunk) <= 10_000 for chunk in chunks)


async def test_overwrite_replaces_bytes_content_type_and_metadata(backend: Backend) -> None:
    await backend.storage.upload("doc", b"one", "text/plain", {"version": "1"})
    await backend.storage.upload("doc", b"two!", "application/json", {"other": "x"})

    info = await backend.storage.stat("doc")
    assert await backend.storage.download("doc") == b"two!"
    assert (info.size, info.content_type, info.metadata) == (4, "application/json", {"other": "x"})


# --- metadata and content type -----------------------------------------------------------------


async def test_metadata_and_content_type_round_trip(backend: Backend) -> None:
    metadata = {"owner": "ada", "report-id": "42", "note_text": "a b=c;d"}
    await backend.storage.upload("meta/r.csv", b"x", "text/csv; charset=utf-8", metadata)

    info = await backend.storage.stat("meta/r.csv")

    assert info.key == "meta/r.csv"
    assert info.size == 1
    assert info.content_type == "text/csv; charset=utf-8"
    assert info.metadata == metadata
    assert info.last_modified.tzinfo is not None


@pytest.mark.parametrize(
    ("key", "expected"),
    [("a.json", "application/json"), ("b.csv", "text/csv"), ("blob", "application/octet-stream")],
)
async def test_content_type_defaults_to_a_guess_from_the_key(
    backend: Backend, key: str, expected: str
) -> None:
    await backend.storage.upload(key, b"{}")

    assert (await backend.storage.stat(key)).content_type == expected


@pytest.mark.parametrize(
    "metadata", [{"Owner": "upper-case key"}, {"owner": "caf\u00e9"}, {"": "x"}, {"k": "x" * 3000}]
)
async def test_metadata_that_cannot_round_trip_is_refused(
    backend: Backend, metadata: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput):
        await backend.storage.upload("m.txt", b"x", metadata=metadata)

    assert await backend.storage.list() == []


async def test_invalid_content_type_is_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput):
        await backend.storage.upload("c.txt", b"x", "not a media type")
    assert not await backend.storage.exists("c.txt")


# --- exists / delete / missing keys ------------------------------------------------------------


async def test_exists_and_delete(backend: Backend) -> None:
    await backend.storage.upload("to-delete.txt", b"bye")
    assert await backend.storage.exists("to-delete.txt")

    await backend.storage.delete("to-delete.txt")

    assert not await backend.storage.exists("to-delete.txt")
    with pytest.raises(NotFound):
        await backend.storage.download("to-delete.txt")
    assert await backend.storage.list() == []


async def test_delete_of_a_missing_key_is_not_an_error(backend: Backend) -> None:
    await backend.storage.delete("never/was.txt")
    assert not await backend.storage.exists("never/was.txt")


async def test_missing_key_is_not_found(backend: Backend) -> None:
    assert not await backend.storage.exists("missing.txt")
    with pytest.raises(NotFound):
        await backend.storage.download("missing.txt")
    with pytest.raises(NotFound):
        await backend.storage.stat("missing.txt")
    with pytest.raises(NotFound):
        [chunk async for chunk in backend.storage.stream("missing.txt")]


async def test_a_prefix_of_other_keys_is_not_an_object(backend: Backend) -> None:
    await backend.storage.upload("folder/inner.txt", b"x")

    assert not await backend.storage.exists("folder")
    with pytest.raises(NotFound):
        await backend.storage.download("folder")


# --- keys ----------------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "/",
    ".",
    "..",
    "../escape.txt",
    "a/../../escape.txt",
    "a/..",
    "/etc/passwd",
    "a\\..\\b.txt",
    "nul\x00byte.txt",
    "line\nbreak.txt",
    ".kit-meta-x.json",
    "dir/.kit-tmp-123",
    "k" * 1100,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_and_nothing_is_written(backend: Backend, key: str) -> None:
    with pytest.raises(InvalidInput):
        await backend.storage.upload(key, b"payload")
    with pytest.raises(InvalidInput):
        await backend.storage.upload(key, chunks_of(b"payload"))
    with pytest.raises(InvalidInput):
        await backend.storage.download(key)
    with pytest.raises(InvalidInput):
        await backend.storage.exists(key)
    with pytest.raises(InvalidInput):
        await backend.storage.generate_presigned_url(key)

    assert await backend.storage.list() == []


async def test_keys_are_normalised(backend: Backend) -> None:
    key = await backend.storage.upload("./reports//2024/./a.csv", b"a")

    assert key == "reports/2024/a.csv"
    assert await backend.storage.download("reports/2024/a.csv") == b"a"
    assert [item.key for item in await backend.storage.list()] == ["reports/2024/a.csv"]


async def test_unicode_keys_round_trip(backend: Backend) -> None:
    key = await backend.storage.upload("f\u00fcr/r\u00e9sum\u00e9 final.txt", b"cv")

    assert await backend.storage.download(key) == b"cv"
    assert [item.key for item in await backend.storage.list()] == [key]


# --- list ----------------------------------------------------------------------------------------


async def test_list_by_prefix(backend: Backend) -> None:
    for key in [
        "reports/2025/c.csv",
        "reports/2024/b.csv",
        "reports/2024/a.csv",
        "reportsX.txt",
        "other/d.txt",
    ]:
        await backend.storage.upload(key, key.encode(), metadata={"k": key[-5:]})

    async def keys(prefix: str) -> list[str]:
        return [item.key for item in await backend.storage.list(prefix)]

    assert await keys("reports/2024/") == ["reports/2024/a.csv", "reports/2024/b.csv"]
    assert await keys("reports/") == [
        "reports/2024/a.csv",
        "reports/2024/b.csv",
        "reports/2025/c.csv",
    ]
    assert await keys("reports") == [
        "reports/2024/a.csv",
        "reports/2024/b.csv",
        "reports/2025/c.csv",
        "reportsX.txt",
    ]
    assert await keys("reports/2024/a") == ["reports/2024/a.csv"]
    assert len(await keys("")) == 5
    assert await keys("nothing/") == []


async def test_list_reports_sizes_and_loads_metadata_on_request(backend: Backend) -> None:
    await backend.storage.upload("l/a.csv", b"12345", "text/csv", {"owner": "ada"})

    [plain] = await backend.storage.list("l/")
    [full] = await backend.storage.list("l/", with_metadata=True)

    assert (plain.key, plain.size, plain.content_type, plain.metadata) == ("l/a.csv", 5, None, None)
    assert (full.size, full.content_type, full.metadata) == (5, "text/csv", {"owner": "ada"})


@pytest.mark.parametrize("prefix", ["../", "/abs", "a\\b", "a\x00"])
async def test_bad_list_prefix_is_refused(backend: Backend, prefix: str) -> None:
    with pytest.raises(InvalidInput):
        await backend.storage.list(prefix)


# --- atomicity -----------------------------------------------------------------------------------


async def test_a_stream_failing_half_way_leaves_no_object(backend: Backend) -> None:
    with pytest.raises(RuntimeError, match="half way"):
        await backend.storage.upload("broken.bin", failing_stream(b"x" * MiB, fail_after=7))

    assert not await backend.storage.exists("broken.bin")
    assert await backend.storage.list() == []


async def test_a_failed_overwrite_keeps_the_previous_object(backend: Backend) -> None:
    await backend.storage.upload("kept.txt", b"version 1", "text/plain", {"v": "1"})

    with pytest.raises(RuntimeError):
        await backend.storage.upload("kept.txt", failing_stream(b"y" * MiB, fail_after=6))

    info = await backend.storage.stat("kept.txt")
    assert await backend.storage.download("kept.txt") == b"version 1"
    assert (info.content_type, info.metadata) == ("text/plain", {"v": "1"})


async def test_a_stream_yielding_non_bytes_is_refused(backend: Backend) -> None:
    async def bad() -> AsyncIterator[bytes]:
        yield b"ok"
        yield "text"  # type: ignore[misc]

    with pytest.raises(InvalidInput):
        await backend.storage.upload("bad.bin", bad())
    assert not await backend.storage.exists("bad.bin")


# --- presigned URLs ------------------------------------------------------------------------------


async def test_presigned_get_url_works_with_a_plain_http_client(backend: Backend) -> None:
    await backend.storage.upload("shared/report.csv", b"id\n1\n", "text/csv")

    url = await backend.storage.generate_presigned_url("shared/report.csv", expires_in=60)
    answer = await backend.http.get(url)

    assert answer.status_code == 200
    assert answer.content == b"id\n1\n"
    assert answer.headers["content-type"].startswith("text/csv")


async def test_presigned_get_url_for_a_missing_object_is_404(backend: Backend) -> None:
    url = await backend.storage.generate_presigned_url("not/there.txt")

    assert (await backend.http.get(url)).status_code == 404


async def test_presigned_put_uploads_the_bytes(backend: Backend) -> None:
    upload = await backend.storage.generate_presigned_upload(
        "incoming/photo.png", "image/png", expires_in=60
    )

    answer = await backend.http.request(
        upload.method, upload.url, headers=upload.headers, content=b"\x89PNG-bytes"
    )

    assert answer.status_code in (200, 201, 204), answer.text
    assert upload.method == "PUT"
    assert upload.headers == {"Content-Type": "image/png"}
    assert await backend.storage.download("incoming/photo.png") == b"\x89PNG-bytes"
    assert (await backend.storage.stat("incoming/photo.png")).content_type == "image/png"


@pytest.mark.parametrize("expires_in", [0, -5, 8 * 24 * 3600])
async def test_presigned_expiry_out_of_range_is_refused(backend: Backend, expires_in: int) -> None:
    with pytest.raises(InvalidInput):
        await backend.storage.generate_presigned_url("a.txt", expires_in=expires_in)
    with pytest.raises(InvalidInput):
        await backend.storage.generate_presigned_upload("a.txt", expires_in=expires_in)


async def test_ping_answers_when_the_backend_is_usable(backend: Backend) -> None:
    storage = backend.storage  # ping is the readiness hook of both adapters, not a port method
    assert isinstance(storage, LocalObjectStorage | S3ObjectStorage)
    await storage.ping()


# --- S3 specifics: errors and lifecycle ----------------------------------------------------------


async def test_s3_unreachable_endpoint_is_backend_unavailable() -> None:
    port = free_port()
    assert not port_open("127.0.0.1", port)
    storage = S3ObjectStorage(
        "any-bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        connect_timeout=1,
        read_timeout=1,
        max_attempts=1,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    async with storage:
        with pytest.raises(BackendUnavailable):
            await storage.download("a.txt")
        with pytest.raises(BackendUnavailable):
            await storage.upload("a.txt", b"x")
        with pytest.raises(BackendUnavailable):
            await storage.list()
        with pytest.raises(BackendUnavailable):
            await storage.ping()


async def test_s3_missing_bucket_is_backend_unavailable(moto_endpoint: str) -> None:
    async with S3ObjectStorage(f"absent-{uuid.uuid4().hex[:12]}", endpoint_url=moto_endpoint) as s3:
        with pytest.raises(BackendUnavailable, match="does not exist"):
            await s3.upload("a.txt", b"x")
        with pytest.raises(BackendUnavailable, match="does not exist"):
            await s3.ping()


async def test_s3_failed_stream_aborts_its_multipart_upload(moto_endpoint: str) -> None:
    s3 = S3ObjectStorage(
        f"abort-{uuid.uuid4().hex[:12]}", endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE
    )
    async with s3:
        await s3.ensure_bucket()
        with pytest.raises(RuntimeError):
            await s3.upload("x.bin", failing_stream(b"z" * MiB, fail_after=11))

        pending = await s3.client.list_multipart_uploads(Bucket=s3.bucket)
        assert pending.get("Uploads", []) == []


async def test_s3_client_is_opened_once_and_required() -> None:
    s3 = S3ObjectStorage("lifecycle-bucket", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="start"):
        await s3.download("a.txt")

    await s3.start()
    client = s3.client
    await s3.start()  # idempotent: still the same client
    assert s3.client is client
    await s3.close()
    with pytest.raises(RuntimeError):
        _ = s3.client
