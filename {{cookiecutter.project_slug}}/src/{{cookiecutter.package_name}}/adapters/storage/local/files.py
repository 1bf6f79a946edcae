"""The local storage's filesystem work, blocking (the adapter runs it in worker threads).

Where a key lives (``base_dir/<key>``, never outside ``base_dir``), its ``.kit-meta-*.json``
sidecar, atomic writes through ``.kit-tmp-*`` temp files, reads, stats and listing.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ....ports.errors import BackendUnavailable, InvalidInput, NotFound
from ....ports.storage import RESERVED_SEGMENT_PREFIX, StoredObject, resolve_content_type

META_PREFIX = f"{RESERVED_SEGMENT_PREFIX}meta-"
TMP_PREFIX = f"{RESERVED_SEGMENT_PREFIX}tmp-"
OBJECT = "object"
BACKEND = "local storage"


def encode_sidecar(content_type: str, metadata: dict[str, str]) -> bytes:
    """The sidecar file's bytes (read back by :meth:`LocalFiles.read_meta`)."""
    return json.dumps({"content_type": content_type, "metadata": metadata}, sort_keys=True).encode()


class LocalFiles:
    """Objects as files under ``base_dir``; ``fsync=False`` trades durability for speed."""

    def __init__(self, base_dir: Path, *, fsync: bool) -> None:
        self.base_dir = base_dir
        self._fsync = fsync

    # --- layout --------------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        path = self.base_dir / key
        root = os.path.realpath(self.base_dir)
        if os.path.commonpath((root, os.path.realpath(path))) != root:
            raise InvalidInput(f"storage key {key!r} resolves outside the storage directory")
        return path

    @staticmethod
    def meta_path(path: Path) -> Path:
        return path.with_name(f"{META_PREFIX}{path.name}.json")

    def check_writable(self) -> None:
        directory = self.base_dir
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent  # uploads will create the missing directories
        if not directory.is_dir():
            raise BackendUnavailable(BACKEND, f"{directory} is not a directory")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise BackendUnavailable(BACKEND, f"{directory} is not writable")

    # --- atomic writes -------------------------------------------------------------------------

    def write_whole(self, key: str, data: bytes, sidecar: bytes) -> None:
        handle, temp_path = self.open_temp(key)
        try:
            handle.write(data)
            self.commit(key, handle, temp_path, sidecar)
        except BaseException:
            discard(handle, temp_path)
            raise

    def open_temp(self, key: str) -> tuple[IO[bytes], Path]:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidInput(f"storage key {key!r} runs through an existing object") from None
        if path.is_dir():
            raise InvalidInput(f"storage key {key!r} is a prefix of other objects")
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        return os.fdopen(fd, "wb"), Path(name)

    def commit(self, key: str, handle: IO[bytes], temp_path: Path, sidecar: bytes) -> None:
        path = self.path(key)
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
            os.replace(meta_temp, self.meta_path(path))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(meta_temp)
            raise
        os.replace(temp_path, path)  # the commit point
        if self._fsync:
            _fsync_dir(path.parent)

    def delete(self, key: str) -> None:
        # Empty directories are left in place: removing them would race a concurrent upload.
        path = self.path(key)
        for target in (path, self.meta_path(path)):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                target.unlink()

    # --- reads ---------------------------------------------------------------------------------

    def read_whole(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(OBJECT, key) from None

    def open_for_read(self, key: str) -> tuple[IO[bytes], StoredObject]:
        path = self.path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(OBJECT, key) from None
        try:
            st = os.fstat(handle.fileno())
            content_type, metadata = self.read_meta(key, path)
        except BaseException:
            handle.close()
            raise
        return handle, _stored(key, st, content_type, metadata)

    def is_object(self, key: str) -> bool:
        return self.path(key).is_file()

    def stat(self, key: str) -> StoredObject:
        path = self.path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(OBJECT, key) from None
        if not path.is_file():
            raise NotFound(OBJECT, key)
        content_type, metadata = self.read_meta(key, path)
        return _stored(key, st, content_type, metadata)

    def read_meta(self, key: str, path: Path) -> tuple[str, dict[str, str]]:
        try:
            raw: Any = json.loads(self.meta_path(path).read_bytes())
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

    def list(self, prefix: str, with_metadata: bool) -> builtins.list[StoredObject]:
        directory, _, _ = prefix.rpartition("/")
        start = self.path(directory) if directory else self.base_dir
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
                    content_type, metadata = self.read_meta(key, path)
                    found.append(_stored(key, st, content_type, metadata))
                else:
                    found.append(_stored(key, st, None, None))
        found.sort(key=lambda item: item.key)
        return found


def discard(handle: IO[bytes], temp_path: Path) -> None:
    """Close and remove a temp file that will not be committed."""
    with contextlib.suppress(OSError):
        handle.close()
    with contextlib.suppress(FileNotFoundError):
        temp_path.unlink()


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


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
