"""LocalObjectStorage specifics: atomic writes, containment, read-only reads, URL signatures."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import ValidationError

from {{cookiecutter.package_name}}.adapters.storage.local import (
    LocalExportStorageProvider,
    LocalObjectStorage,
)
from {{cookiecutter.package_name}}.adapters.storage.s3 import (
    S3ExportStorageProvider,
    S3ObjectStorage,
)
from {{cookiecutter.package_name}}.builders import (
    build_object_storage,
    clear_export_storage_cache,
    get_export_storage,
)
from {{cookiecutter.package_name}}.ports.errors import (
    BackendUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from {{cookiecutter.package_name}}.ports.storage import ObjectStorage
from {{cookiecutter.package_name}}.settings import Settings


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(tmp_path: Path, clock: Clock) -> LocalObjectStorage:
    return LocalObjectStorage(
        tmp_path / "store", "https://files.example.org/", "unit-test-secret", clock=clock
    )


def test_adapters_satisfy_the_port_and_keep_persistence_kit_names(
    storage: LocalObjectStorage,
) -> None:
    assert isinstance(storage, ObjectStorage)
    assert isinstance(S3ObjectStorage("b"), ObjectStorage)
    assert LocalExportStorageProvider is LocalObjectStorage
    assert S3ExportStorageProvider is S3ObjectStorage


# --- atomic writes -------------------------------------------------------------------------------


async def test_stream_raising_half_way_leaves_no_object_and_no_temp_file(
    storage: LocalObjectStorage, tmp_path: Path
) -> None:
    async def dies_half_way() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 300_000  # more than the write buffer: bytes really hit the temp file
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.upload("exports/big.csv", dies_half_way())

    assert all_files(tmp_path) == []
    assert not await storage.exists("exports/big.csv")


async def temp_file_appears(storage: LocalObjectStorage) -> None:
    """Wait until the upload's temporary file exists (its writes run in a thread): polled, so a
    busy machine only makes it later, never wrong."""
    for _ in range(3000):
        if any(p.name.startswith(".kit-tmp-") for p in storage.base_dir.iterdir()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the upload never created its temporary file")


async def test_a_partial_upload_is_never_visible(storage: LocalObjectStorage) -> None:
    gate = asyncio.Event()
    resume = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * 400_000
        gate.set()
        await resume.wait()
        yield b"b" * 10

    upload = asyncio.create_task(storage.upload("slow.bin", slow()))
    await gate.wait()
    await temp_file_appears(storage)  # the first chunk is on the disk

    assert not await storage.exists("slow.bin")
    assert await storage.list() == []
    with pytest.raises(NotFound):
        await storage.download("slow.bin")
    temp_files = [p.name for p in storage.base_dir.iterdir()]
    assert len(temp_files) == 1
    assert temp_files[0].startswith(".kit-tmp-")

    resume.set()
    await upload
    assert await storage.download("slow.bin") == b"a" * 400_000 + b"b" * 10
    assert sorted(p.name for p in storage.base_dir.iterdir()) == [
        ".kit-meta-slow.bin.json",
        "slow.bin",
    ]


async def test_cancelled_upload_removes_its_temp_file(storage: LocalObjectStorage) -> None:
    started = asyncio.Event()

    async def never_ends() -> AsyncIterator[bytes]:
        yield b"x" * 300_000
        started.set()
        await asyncio.Event().wait()
        yield b""

    upload = asyncio.create_task(storage.upload("c.bin", never_ends()))
    await started.wait()
    await temp_file_appears(storage)
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert [p for p in storage.base_dir.iterdir() if p.is_file()] == []


async def test_a_crash_before_the_rename_keeps_the_old_bytes(
    storage: LocalObjectStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await storage.upload("report.txt", b"old", "text/plain")

    def disk_failure(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_failure)
    with pytest.raises(BackendUnavailable):
        await storage.upload("report.txt", b"new bytes")
    monkeypatch.undo()

    assert await storage.download("report.txt") == b"old"
    assert sorted(p.name for p in storage.base_dir.iterdir()) == [
        ".kit-meta-report.txt.json",
        "report.txt",
    ]


async def test_key_conflicting_with_an_object_or_a_prefix_is_invalid(
    storage: LocalObjectStorage, tmp_path: Path
) -> None:
    await storage.upload("a", b"file")
    await storage.upload("dir/inner", b"x")

    with pytest.raises(InvalidInput, match="existing object"):
        await storage.upload("a/b", b"x")
    with pytest.raises(InvalidInput, match="prefix"):
        await storage.upload("dir", b"x")
    assert [o.key for o in await storage.list()] == ["a", "dir/inner"]
    assert not any(".kit-tmp-" in name for name in all_files(tmp_path))


# --- containment ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "../escape.txt",
        "a/../../escape.txt",
        "/tmp/escape.txt",
        "..\\escape.txt",
        "a\\..\\..\\escape.txt",
        "escape\x00.txt",
        "",
    ],
)
async def test_traversal_attempts_are_rejected(
    storage: LocalObjectStorage, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidInput):
        await storage.upload(key, b"owned")
    with pytest.raises(InvalidInput):
        await storage.generate_presigned_upload(key)

    assert all_files(tmp_path) == []


async def test_a_symlink_out_of_the_base_dir_is_refused(
    storage: LocalObjectStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"top secret")
    storage.base_dir.mkdir()
    (storage.base_dir / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidInput, match="outside"):
        await storage.download("link/secret.txt")
    with pytest.raises(InvalidInput, match="outside"):
        await storage.upload("link/planted.txt", b"x")
    with pytest.raises(InvalidInput, match="outside"):
        await storage.list("link/")

    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


# --- reads are read-only -------------------------------------------------------------------------


async def test_reads_never_create_directories(storage: LocalObjectStorage) -> None:
    assert not storage.base_dir.exists()

    assert not await storage.exists("deep/down/file.txt")
    assert await storage.list("deep/down/") == []
    assert await storage.list() == []
    with pytest.raises(NotFound):
        await storage.download("deep/down/file.txt")
    with pytest.raises(NotFound):
        await storage.stat("deep/down/file.txt")
    with pytest.raises(NotFound):
        await storage.open_read("deep/down/file.txt")
    await storage.delete("deep/down/file.txt")
    await storage.generate_presigned_url("deep/down/file.txt")

    assert not storage.base_dir.exists()


async def test_ping_creates_nothing_and_fails_on_an_unusable_base_dir(tmp_path: Path) -> None:
    fresh = LocalObjectStorage(tmp_path / "not" / "yet", "http://x", "s")
    await fresh.ping()
    assert not (tmp_path / "not").exists()

    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(BackendUnavailable, match="not a directory"):
        await LocalObjectStorage(tmp_path / "a-file", "http://x", "s").ping()


async def test_file_placed_by_hand_is_served_with_a_guessed_type(
    storage: LocalObjectStorage,
) -> None:
    (storage.base_dir / "legacy").mkdir(parents=True)
    (storage.base_dir / "legacy" / "old.csv").write_bytes(b"a,b\n")

    info = await storage.stat("legacy/old.csv")
    [listed] = await storage.list(with_metadata=True)

    assert (info.content_type, info.metadata, info.size) == ("text/csv", {}, 4)
    assert listed.key == "legacy/old.csv"


async def test_sidecars_and_temp_files_are_not_listed(storage: LocalObjectStorage) -> None:
    await storage.upload("x/a.txt", b"a", metadata={"m": "1"})
    (storage.base_dir / "x" / ".kit-tmp-stale").write_bytes(b"left by a crash")

    assert [o.key for o in await storage.list()] == ["x/a.txt"]


# --- signatures ----------------------------------------------------------------------------------


def signed_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    key = unquote(parts.path.removeprefix("/storage/objects/"))
    return key, query["expires"][0], query["signature"][0]


async def test_presigned_url_shape_and_verification(
    storage: LocalObjectStorage, clock: Clock
) -> None:
    url = await storage.generate_presigned_url("exports/r\u00e9sum\u00e9 1.pdf", expires_in=60)

    assert url.startswith("https://files.example.org/storage/objects/exports/r%C3%A9sum%C3%A9%201")
    key, expires, signature = signed_parts(url)
    assert key == "exports/r\u00e9sum\u00e9 1.pdf"
    assert int(expires) == int(clock.now) + 60
    assert len(signature) == 64
    assert storage.verify_signature(key, expires, signature)


async def test_tampered_signatures_are_rejected(storage: LocalObjectStorage) -> None:
    key, expires, signature = signed_parts(await storage.generate_presigned_url("a.txt"))
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")

    assert not storage.verify_signature(key, expires, flipped)
    assert not storage.verify_signature("b.txt", expires, signature)
    assert not storage.verify_signature(key, str(int(expires) + 3600), signature)
    assert not storage.verify_signature(key, "soon", signature)
    assert not storage.verify_signature(key, None, signature)
    assert not storage.verify_signature(key, expires, None)
    assert not storage.verify_signature(key, expires, "")
    assert not storage.verify_signature(key, expires, signature, method="PUT")
    other = LocalObjectStorage(storage.base_dir, "http://x", "another-secret")
    assert not other.verify_signature(key, expires, signature)


async def test_signatures_expire(storage: LocalObjectStorage, clock: Clock) -> None:
    key, expires, signature = signed_parts(
        await storage.generate_presigned_url("a.txt", expires_in=30)
    )

    clock.now += 29
    assert storage.verify_signature(key, expires, signature)
    clock.now += 1
    assert not storage.verify_signature(key, expires, signature)
    with pytest.raises(PermissionDenied, match="expired"):
        storage.check_signature(key, expires, signature)


async def test_upload_signature_covers_the_content_type(storage: LocalObjectStorage) -> None:
    upload = await storage.generate_presigned_upload("in/p.png", expires_in=60)
    key, expires, signature = signed_parts(upload.url)

    assert upload.headers == {"Content-Type": "image/png"}
    assert storage.verify_signature(key, expires, signature, method="PUT", content_type="image/png")
    assert not storage.verify_signature(
        key, expires, signature, method="PUT", content_type="text/html"
    )
    assert not storage.verify_signature(key, expires, signature)  # not a GET signature


def test_an_empty_signing_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="signing_secret"):
        LocalObjectStorage(tmp_path, "http://x", "")


# --- settings and builders ------------------------------------------------------------------------


def test_production_refuses_a_placeholder_or_short_signing_secret() -> None:
    strong_jwt = "j" * 48
    for weak in ("change-me", "dev-secret", "short-but-not-placeholder"):
        with pytest.raises(ValidationError, match="STORAGE_SIGNING_SECRET"):
            Settings(
                environment="production",
                storage_backend="local",
                cursor_secret="c" * 48,
                jwt_secret=strong_jwt,
                storage_signing_secret=weak,
            )


def test_placeholder_signing_secret_is_fine_outside_production_or_with_s3() -> None:
    assert Settings(environment="local", storage_backend="local").storage_signing_secret
    settings = Settings(
        environment="production",
        storage_backend="s3",
        identity_backend="memory",  # whatever the answers chose
        cursor_secret="c" * 48,
        jwt_secret="j" * 48,
        storage_signing_secret="change-me",
        allow_memory_backends_in_production=True,
    )
    assert settings.storage_backend == "s3"


def test_get_export_storage_builds_and_caches_the_configured_adapter(tmp_path: Path) -> None:
    clear_export_storage_cache()
    local_settings = Settings(
        storage_backend="local", local_storage_dir=str(tmp_path / "files"), environment="test"
    )
    s3_settings = Settings(
        storage_backend="s3", s3_bucket="my-bucket", aws_endpoint_url="http://127.0.0.1:1"
    )

    local = get_export_storage(local_settings)
    s3 = get_export_storage(s3_settings)

    assert isinstance(local, LocalObjectStorage)
    assert local.base_dir == tmp_path / "files"
    assert get_export_storage(local_settings) is local
    assert build_object_storage(local_settings) is not local
    assert isinstance(s3, S3ObjectStorage)
    assert (s3.bucket, s3.endpoint_url) == ("my-bucket", "http://127.0.0.1:1")
    own_endpoint = s3_settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:2"})
    rebuilt = build_object_storage(own_endpoint)
    assert isinstance(rebuilt, S3ObjectStorage)
    assert rebuilt.endpoint_url == "http://127.0.0.1:2"
    clear_export_storage_cache()
