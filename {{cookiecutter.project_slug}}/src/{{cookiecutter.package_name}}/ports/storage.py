"""Object storage port: files and blobs kept outside the domain (exports, uploads, reports).

Semantics every adapter honours (``tests/contract/test_object_storage_contract.py`` proves them
for the local filesystem and for S3):

- Keys are ``/``-separated relative paths. :func:`normalize_key` is the one rule for every
  adapter: ``.`` segments and repeated slashes are dropped; an empty key, ``..``, a leading
  ``/``, a backslash, NUL or another control character, a segment starting with ``.kit-``
  (reserved for the local adapter's bookkeeping) or more than 1024 UTF-8 bytes raises
  ``InvalidInput`` and nothing is written. ``upload`` returns the normalised key.
- ``upload`` accepts bytes or an async iterable of byte chunks (streamed, never buffered whole).
  It is all-or-nothing: if the stream raises half way, no object and no partial file remain,
  and a previous object under the same key is left as it was.
- Metadata is ``dict[str, str]`` with lowercase ASCII keys (``a-z0-9``, ``-``, ``_``) and
  printable ASCII values, at most 2 KiB in all (S3's limit), so it round-trips on every backend.
  The content type defaults to a guess from the key's extension.
- ``download``, ``stream`` and ``stat`` raise ``NotFound`` for a missing key; ``exists`` answers
  ``False``; ``delete`` of a missing key is not an error (S3 semantics).
- ``list(prefix)`` is a plain string-prefix match (``"exp"`` matches ``"exports/a.csv"``), sorted
  by key. ``content_type`` and ``metadata`` are loaded only with ``with_metadata=True`` (on S3
  that costs one HEAD per object); otherwise they are ``None``.
- ``generate_presigned_url`` gives a GET URL any plain HTTP client can fetch until it expires.
  ``generate_presigned_upload`` gives a URL + method + headers for a plain HTTP ``PUT``.
- An unreachable backend raises ``BackendUnavailable``.

Pure python: no framework or driver imports here.
"""

from __future__ import annotations

import builtins
import mimetypes
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .errors import InvalidInput
from .lifecycle import HealthChecked

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's limit for SigV4 presigned URLs
DEFAULT_CHUNK_SIZE = 64 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
RESERVED_SEGMENT_PREFIX = ".kit-"

_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[\x20-\x7e]*)?")

UploadData = bytes | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What storage knows of one object; content_type and metadata are None when a listing did not
    load them."""

    key: str
    size: int
    last_modified: datetime
    content_type: str | None = None
    metadata: dict[str, str] | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """Everything a plain HTTP client needs to upload the bytes itself.

    Send ``method`` to ``url`` with exactly ``headers`` (the content type is part of the
    signature) and the bytes as the body. ``fields`` is for form-style (POST policy) uploads and
    is empty for the ``PUT`` uploads both adapters give.
    """

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime
    fields: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class ObjectStorage(HealthChecked, Protocol):
    """Files and blobs under ``/``-separated keys, with the semantics this module lists."""

    async def upload(
        self,
        key: str,
        data: UploadData,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store ``data`` under ``key`` atomically; returns the normalised key."""
        ...

    async def download(self, key: str) -> bytes:
        """The whole object in memory, or NotFound; use stream for large objects."""
        ...

    def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; ``NotFound`` is raised on the first iteration."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under key (never raises NotFound)."""
        ...

    async def stat(self, key: str) -> StoredObject:
        """Size, content type, last modified and metadata of one object, or ``NotFound``."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error (S3 semantics)."""
        ...

    async def list(
        self, prefix: str = "", *, with_metadata: bool = False
    ) -> builtins.list[StoredObject]:
        """Objects whose key starts with prefix (a plain string prefix), sorted by key."""
        ...

    async def generate_presigned_url(self, key: str, expires_in: int | None = None) -> str:
        """A GET URL for ``key`` valid for ``expires_in`` seconds (adapter default if None)."""
        ...

    async def generate_presigned_upload(
        self, key: str, content_type: str | None = None, expires_in: int | None = None
    ) -> PresignedUpload:
        """A URL, method and headers with which a client uploads to key directly, valid for
        expires_in seconds."""
        ...


# --- rules shared by every adapter ------------------------------------------------------------


def normalize_key(key: str) -> str:
    """The canonical form of ``key``, or ``InvalidInput`` saying why it cannot be a key."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("storage key must be a non-empty string")
    _reject_unsafe_characters(key, "storage key")
    if key.startswith("/"):
        raise InvalidInput(f"storage key {key!r} must be relative (no leading '/')")
    segments = [segment for segment in key.split("/") if segment not in ("", ".")]
    if not segments:
        raise InvalidInput(f"storage key {key!r} names no object")
    for segment in segments:
        if segment == "..":
            raise InvalidInput(f"storage key {key!r} must not contain '..'")
        if segment.startswith(RESERVED_SEGMENT_PREFIX):
            raise InvalidInput(
                f"storage key {key!r}: segments starting with {RESERVED_SEGMENT_PREFIX!r} "
                "are reserved"
            )
    normalized = "/".join(segments)
    if len(normalized.encode()) > MAX_KEY_BYTES:
        raise InvalidInput(f"storage key is longer than {MAX_KEY_BYTES} bytes")
    return normalized


def validate_prefix(prefix: str) -> str:
    """A listing prefix is matched literally; it may be empty or end with ``/``."""
    if not isinstance(prefix, str):
        raise InvalidInput("storage prefix must be a string")
    if not prefix:
        return prefix
    _reject_unsafe_characters(prefix, "storage prefix")
    if prefix.startswith("/"):
        raise InvalidInput(f"storage prefix {prefix!r} must be relative (no leading '/')")
    if ".." in prefix.split("/"):
        raise InvalidInput(f"storage prefix {prefix!r} must not contain '..'")
    if len(prefix.encode()) > MAX_KEY_BYTES:
        raise InvalidInput(f"storage prefix is longer than {MAX_KEY_BYTES} bytes")
    return prefix


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The metadata as a plain dict, or InvalidInput when a key, a value or the total size breaks
    the rules every adapter shares."""
    if not metadata:
        return {}
    result: dict[str, str] = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not _METADATA_KEY.fullmatch(name):
            raise InvalidInput(
                f"metadata key {name!r} must be lowercase ASCII letters, digits, '-' or '_'"
            )
        if not isinstance(value, str) or not _PRINTABLE_ASCII.fullmatch(value):
            raise InvalidInput(f"metadata value of {name!r} must be printable ASCII text")
        result[name] = value
    if sum(len(k) + len(v) for k, v in result.items()) > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return result


def resolve_content_type(key: str, content_type: str | None) -> str:
    """``content_type`` if valid, else a guess from the key's extension."""
    if content_type is None:
        guessed, _ = mimetypes.guess_type(key, strict=False)
        return guessed or DEFAULT_CONTENT_TYPE
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidInput(f"content type {content_type!r} is not a valid media type")
    return content_type


def validate_expires_in(expires_in: int | None, default: int) -> int:
    """The expiry in seconds (default when None), or InvalidInput outside 1 s to 7 days."""
    seconds = default if expires_in is None else expires_in
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InvalidInput("expires_in must be a whole number of seconds")
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise InvalidInput(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
    return seconds


def validate_chunk_size(chunk_size: int) -> int:
    """chunk_size when it is a positive int, else InvalidInput."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInput("chunk_size must be a positive number of bytes")
    return chunk_size


def _reject_unsafe_characters(text: str, what: str) -> None:
    if "\x00" in text:
        raise InvalidInput(f"{what} must not contain NUL")
    if "\\" in text:
        raise InvalidInput(f"{what} {text!r} must not contain a backslash")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise InvalidInput(f"{what} {text!r} must not contain control characters")
