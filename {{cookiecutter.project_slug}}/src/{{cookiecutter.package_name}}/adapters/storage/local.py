"""Object storage on the local filesystem, with HMAC-signed expiring URLs.

Layout under ``base_dir``: each object is the plain file ``base_dir/<key>`` (so existing
persistence-kit export directories keep working); its content type and metadata live in the
sidecar ``.kit-meta-<name>.json`` next to it (``.kit-`` names are reserved, so a sidecar can
never collide with an object or a directory; a file placed by hand without a sidecar gets a
content type guessed from its name). Keys are checked by the port's
:func:`~...ports.storage.normalize_key` and the resolved path must stay inside ``base_dir`` (a
symlink pointing out is refused too).

Writes are atomic: bytes go to a temp file ``.kit-tmp-*`` in the target's own directory, are
fsynced, and then ``os.replace`` puts the sidecar and then the file in place (the file is the
commit point: an object exists when its file does), and the directory is fsynced. A stream that
fails half way, or a crash, leaves no object and removes its temp file. Files are created with
mode 0600 (private to the service's user). Reads never create directories.

Every filesystem call runs in a worker thread (``asyncio.to_thread``), so a slow disk never
blocks the event loop; streamed uploads are coalesced into writes of at least 256 KiB.
Filesystem failures become kit errors: a name too long for the filesystem is ``InvalidInput``,
any other ``OSError`` (disk full, permissions, unmounted volume) ``BackendUnavailable``.

Signed URLs: ``<public_base_url><route_path>/<key>?expires=<unix>&signature=<hex>`` where the
signature is HMAC-SHA256 over method, key, expiry (and, for uploads, the content type), compared
with :func:`hmac.compare_digest`. The FastAPI routes that serve them are built by
``adapters/http/routers/storage.py``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar
from urllib.parse import quote, urlencode

from ...ports.errors import BackendUnavailable, InvalidInput, KitError, NotFound, PermissionDenied
from ...ports.storage import (
    DEFAULT_CHUNK_SIZE,
    RESERVED_SEGMENT_PREFIX,
    PresignedUpload,
    StoredObject,
    UploadData,
    normalize_key,
    resolve_content_type,
    validate_chunk_size,
    validate_expires_in,
    validate_metadata,
    validate_prefix,
)

logger = logging.getLogger(__name__)

DEFAULT_ROUTE_PATH = "/storage/objects"
DEFAULT_EXPIRES_IN = 900
META_PREFIX = f"{RESERVED_SEGMENT_PREFIX}meta-"
TMP_PREFIX = f"{RESERVED_SEGMENT_PREFIX}tmp-"
WRITE_BUFFER_BYTES = 256 * 1024
OBJECT = "object"
BACKEND = "local storage"

P = ParamSpec("P")
R = TypeVar("R")


class LocalObjectStorage:
    """:class:`~...ports.storage.ObjectStorage` over a directory; see the module docstring."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        public_base_url: str,
        signing_secret: str,
        *,
        route_path: str = DEFAULT_ROUTE_PATH,
        default_expires_in: int = DEFAULT_EXPIRES_IN,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            raise ValueError("LocalObjectStorage needs a non-empty signing_secret")
        self.base_dir = Path(base_dir).absolute()
        self.public_base_url = public_base_url.rstrip("/")
        self.route_path = "/" + route_path.strip("/")
        self.default_expires_in = validate_expires_in(default_expires_in, DEFAULT_EXPIRES_IN)
        self._secret = signing_secret.encode()
        self._fsync = fsync
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalObjectStorage(base_dir={str(self.base_dir)!r})"

    # --- lifecycle (nothing to open; kept so every adapter looks the same to the lifespan) ---

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        """Readiness: ``BackendUnavailable`` unless uploads could be written (creates nothing)."""
        await asyncio.to_thread(self._check_writable)

    # --- writes --------------------------------------------------------------------------------

    async def upload(
        self,
        key: str,
        data: UploadData,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        key = normalize_key(key)
        sidecar = json.dumps(
            {
                "content_type": resolve_content_type(key, content_type),
                "metadata": validate_metadata(metadata),
            },
            sort_keys=True,
        ).encode()
        if isinstance(data, bytes | bytearray | memoryview):
            await _run(key, self._write_whole, key, bytes(data), sidecar)
            return key
        if isinstance(data, str) or not hasattr(data, "__aiter__"):
            raise InvalidInput("upload data must be bytes or an async iterable of bytes")
        handle, temp_path = await _run(key, self._open_temp, key)
        try:
            buffer = bytearray()
            async for chunk in data:
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise InvalidInput("an upload stream must yield bytes")
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER_BYTES:
                    await _run(key, handle.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await _run(key, handle.write, bytes(buffer))
            await _run(key, self._commit, key, handle, temp_path, sidecar)
        except BaseException:
            # Shielded: a cancelled upload still removes its temp file.
            await asyncio.shield(asyncio.to_thread(_discard, handle, temp_path))
            raise
        return key

    async def delete(self, key: str) -> None:
        key = normalize_key(key)
        await _run(key, self._delete, key)

    # --- reads ---------------------------------------------------------------------------------

    async def download(self, key: str) -> bytes:
        key = normalize_key(key)
        return await _run(key, self._read_whole, key)

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        _, chunks = await self.open_read(key, chunk_size)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def open_read(
        self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> tuple[StoredObject, AsyncGenerator[bytes]]:
        """Open the object now (``NotFound`` here, not mid-stream); its facts and its bytes.

        Facts and bytes come from the same open file, so a concurrent overwrite cannot mix
        them. Iterate the chunks to the end or ``aclose()`` them to release the file.
        """
        key = normalize_key(key)
        chunk_size = validate_chunk_size(chunk_size)
        handle, info = await _run(key, self._open_for_read, key)
        return info, _read_chunks(key, handle, chunk_size)

    async def exists(self, key: str) -> bool:
        key = normalize_key(key)
        return await _run(key, self._is_object, key)

    async def stat(self, key: str) -> StoredObject:
        key = normalize_key(key)
        return await _run(key, self._stat, key)

    async def list(
        self, prefix: str = "", *, with_metadata: bool = False
    ) -> builtins.list[StoredObject]:
        prefix = validate_prefix(prefix)
        return await _run(prefix, self._list, prefix, with_metadata)

    # --- signed URLs ---------------------------------------------------------------------------

    async def generate_presigned_url(self, key: str, expires_in: int | None = None) -> str:
        key = normalize_key(key)
        expires = self._expiry(expires_in)
        return self._signed_url(key, expires, self.sign(key, expires))

    async def generate_presigned_upload(
        self, key: str, content_type: str | None = None, expires_in: int | None = None
    ) -> PresignedUpload:
        """A signed ``PUT`` URL for the local upload route; the content type is signed too."""
        key = normalize_key(key)
        content_type = resolve_content_type(key, content_type)
        expires = self._expiry(expires_in)
        signature = self.sign(key, expires, method="PUT", content_type=content_type)
        return PresignedUpload(
            url=self._signed_url(key, expires, signature),
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=datetime.fromtimestamp(expires, tz=UTC),
        )

    def sign(
        self, key: str, expires: int, *, method: str = "GET", content_type: str | None = None
    ) -> str:
        """HMAC-SHA256 (hex) over method, key, expiry and, for uploads, the content type."""
        message = "\n".join((method.upper(), key, str(expires), content_type or ""))
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def check_signature(
        self,
        key: str,
        expires: str | int | None,
        signature: str | None,
        *,
        method: str = "GET",
        content_type: str | None = None,
    ) -> None:
        """Raise ``PermissionDenied`` unless ``signature`` is ours for these values and fresh."""
        if expires is None or signature is None:
            raise PermissionDenied("the URL is not signed")
        try:
            expires_at = int(expires)
        except ValueError:
            raise PermissionDenied("the URL signature is invalid") from None
        expected = self.sign(key, expires_at, method=method, content_type=content_type)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise PermissionDenied("the URL signature is invalid")
        if self._clock() >= expires_at:
            raise PermissionDenied("the signed URL has expired")

    def verify_signature(
        self,
        key: str,
        expires: str | int | None,
        signature: str | None,
        *,
        method: str = "GET",
        content_type: str | None = None,
    ) -> bool:
        """``True`` when the signature is valid for these values and not expired."""
        try:
            self.check_signature(key, expires, signature, method=method, content_type=content_type)
        except PermissionDenied:
            return False
        return True

    def _expiry(self, expires_in: int | None) -> int:
        return int(self._clock()) + validate_expires_in(expires_in, self.default_expires_in)

    def _signed_url(self, key: str, expires: int, signature: str) -> str:
        query = urlencode({"expires": expires, "signature": signature})
        return f"{self.public_base_url}{self.route_path}/{quote(key, safe='/')}?{query}"

    # --- filesystem work (runs in worker threads) ------------------------------------------------

    def _path(self, key: str) -> Path:
        path = self.base_dir / key
        root = os.path.realpath(self.base_dir)
        if os.path.commonpath((root, os.path.realpath(path))) != root:
            raise InvalidInput(f"storage key {key!r} resolves outside the storage directory")
        return path

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(f"{META_PREFIX}{path.name}.json")

    def _check_writable(self) -> None:
        directory = self.base_dir
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent  # uploads will create the missing directories
        if not directory.is_dir():
            raise BackendUnavailable(BACKEND, f"{directory} is not a directory")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise BackendUnavailable(BACKEND, f"{directory} is not writable")

    def _write_whole(self, key: str, data: bytes, sidecar: bytes) -> None:
        handle, temp_path = self._open_temp(key)
        try:
            handle.write(data)
            self._commit(key, handle, temp_path, sidecar)
        except BaseException:
            _discard(handle, temp_path)
            raise

    def _open_temp(self, key: str) -> tuple[IO[bytes], Path]:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidInput(f"storage key {key!r} runs through an existing object") from None
        if path.is_dir():
            raise InvalidInput(f"storage key {key!r} is a prefix of other objects")
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        return os.fdopen(fd, "wb"), Path(name)

    def _commit(self, key: str, handle: IO[bytes], temp_path: Path, sidecar: bytes) -> None:
        path = self._path(key)
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())
        handle.close()
        if path.is_dir():
            raise InvalidInput(f"storage key {key!r} is a prefix of other objects")
        fd, meta_temp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as meta_handle:
                meta_handle.write(sidecar)
                meta_handle.flush()
                if self._fsync:
                    os.fsync(meta_handle.fileno())
            os.replace(meta_temp, self._meta_path(path))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(meta_temp)
            raise
        os.replace(temp_path, path)  # the commit point
        if self._fsync:
            _fsync_dir(path.parent)

    def _read_whole(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(OBJECT, key) from None

    def _open_for_read(self, key: str) -> tuple[IO[bytes], StoredObject]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(OBJECT, key) from None
        try:
            st = os.fstat(handle.fileno())
            content_type, metadata = self._read_meta(key, path)
        except BaseException:
            handle.close()
            raise
        return handle, _stored(key, st, content_type, metadata)

    def _is_object(self, key: str) -> bool:
        return self._path(key).is_file()

    def _stat(self, key: str) -> StoredObject:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(OBJECT, key) from None
        if not path.is_file():
            raise NotFound(OBJECT, key)
        content_type, metadata = self._read_meta(key, path)
        return _stored(key, st, content_type, metadata)

    def _read_meta(self, key: str, path: Path) -> tuple[str, dict[str, str]]:
        try:
            raw: Any = json.loads(self._meta_path(path).read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        content_type = raw.get("content_type")
        metadata = raw.get("metadata")
        return (
            content_type if isinstance(content_type, str) else resolve_content_type(key, None),
            {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        )

    def _delete(self, key: str) -> None:
        # Empty directories are left in place: removing them would race a concurrent upload.
        path = self._path(key)
        for target in (path, self._meta_path(path)):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                target.unlink()

    def _list(self, prefix: str, with_metadata: bool) -> builtins.list[StoredObject]:
        directory, _, _ = prefix.rpartition("/")
        start = self._path(directory) if directory else self.base_dir
        if not start.is_dir():
            return []
        found: builtins.list[StoredObject] = []
        for root, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if not d.startswith(RESERVED_SEGMENT_PREFIX)]
            relative_root = Path(root).relative_to(self.base_dir).as_posix()
            for name in files:
                if name.startswith(RESERVED_SEGMENT_PREFIX):
                    continue
                key = name if relative_root == "." else f"{relative_root}/{name}"
                if not key.startswith(prefix):
                    continue
                path = Path(root, name)
                try:
                    st = path.stat()
                except FileNotFoundError:  # deleted while we walked
                    continue
                if with_metadata:
                    content_type, metadata = self._read_meta(key, path)
                    found.append(_stored(key, st, content_type, metadata))
                else:
                    found.append(_stored(key, st, None, None))
        found.sort(key=lambda item: item.key)
        return found


LocalExportStorageProvider = LocalObjectStorage  # persistence-kit's name


async def _run(key: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking file work in a worker thread; ``OSError`` becomes a kit error."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except OSError as exc:
        raise _translate(key, exc) from exc


def _translate(key: str, exc: OSError) -> KitError:
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidInput(f"storage key {key!r} is too long for this filesystem")
    logger.warning("local storage failed on %r: %r", key, exc)
    return BackendUnavailable(BACKEND, exc.strerror or "the filesystem refused the operation")


async def _read_chunks(key: str, handle: IO[bytes], chunk_size: int) -> AsyncGenerator[bytes]:
    try:
        while chunk := await _run(key, handle.read, chunk_size):
            yield chunk
    finally:
        handle.close()


def _stored(
    key: str, st: os.stat_result, content_type: str | None, metadata: dict[str, str] | None
) -> StoredObject:
    return StoredObject(
        key=key,
        size=st.st_size,
        last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        content_type=content_type,
        metadata=metadata,
    )


def _discard(handle: IO[bytes], temp_path: Path) -> None:
    with contextlib.suppress(OSError):
        handle.close()
    with contextlib.suppress(FileNotFoundError):
        temp_path.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
