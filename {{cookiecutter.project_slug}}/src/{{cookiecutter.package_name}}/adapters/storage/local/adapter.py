"""The local storage adapter: the async :class:`~....ports.storage.ObjectStorage` over
``files.py`` (each call in a worker thread, ``OSError`` turned into kit errors) and
``signing.py`` (its signed URLs).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

from ....ports.errors import BackendUnavailable, InvalidInput, KitError
from ....ports.storage import (
    DEFAULT_CHUNK_SIZE,
    StoredObject,
    UploadData,
    normalize_key,
    resolve_content_type,
    validate_chunk_size,
    validate_expires_in,
    validate_metadata,
    validate_prefix,
)
from .files import BACKEND, LocalFiles, discard, encode_sidecar
from .signing import DEFAULT_EXPIRES_IN, DEFAULT_ROUTE_PATH, SignedUrls

# The package's logger: the name this adapter logged under when it was one module.
logger = logging.getLogger(__package__)

WRITE_BUFFER_BYTES = 256 * 1024

P = ParamSpec("P")
R = TypeVar("R")


class LocalObjectStorage(SignedUrls):
    """:class:`~....ports.storage.ObjectStorage` over a directory; see the package docstring."""

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
        self._files = LocalFiles(self.base_dir, fsync=fsync)
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
        await asyncio.to_thread(self._files.check_writable)

    # --- writes --------------------------------------------------------------------------------

    async def upload(
        self,
        key: str,
        data: UploadData,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        key = normalize_key(key)
        sidecar = encode_sidecar(
            resolve_content_type(key, content_type), validate_metadata(metadata)
        )
        if isinstance(data, bytes | bytearray | memoryview):
            await _run(key, self._files.write_whole, key, bytes(data), sidecar)
            return key
        if isinstance(data, str) or not hasattr(data, "__aiter__"):
            raise InvalidInput("upload data must be bytes or an async iterable of bytes")
        handle, temp_path = await _run(key, self._files.open_temp, key)
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
            await _run(key, self._files.commit, key, handle, temp_path, sidecar)
        except BaseException:
            # Shielded: a cancelled upload still removes its temp file.
            await asyncio.shield(asyncio.to_thread(discard, handle, temp_path))
            raise
        return key

    async def delete(self, key: str) -> None:
        key = normalize_key(key)
        await _run(key, self._files.delete, key)

    # --- reads ---------------------------------------------------------------------------------

    async def download(self, key: str) -> bytes:
        key = normalize_key(key)
        return await _run(key, self._files.read_whole, key)

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
        handle, info = await _run(key, self._files.open_for_read, key)
        return info, _read_chunks(key, handle, chunk_size)

    async def exists(self, key: str) -> bool:
        key = normalize_key(key)
        return await _run(key, self._files.is_object, key)

    async def stat(self, key: str) -> StoredObject:
        key = normalize_key(key)
        return await _run(key, self._files.stat, key)

    async def list(
        self, prefix: str = "", *, with_metadata: bool = False
    ) -> builtins.list[StoredObject]:
        prefix = validate_prefix(prefix)
        return await _run(prefix, self._files.list, prefix, with_metadata)


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
