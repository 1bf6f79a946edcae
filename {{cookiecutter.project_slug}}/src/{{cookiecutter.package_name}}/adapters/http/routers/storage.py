"""HTTP routes that serve :class:`LocalObjectStorage`'s signed URLs (download and upload).

``GET  <path>/<key>?expires=..&signature=..`` streams the object with its stored content type.
``PUT  <path>/<key>?expires=..&signature=..`` stores the request body (the local equivalent of
an S3 presigned PUT; the ``Content-Type`` header must be the signed one).

Access rules, in order:

1. The signature must be valid for this method, key and expiry (and content type for PUT), and
   not expired; otherwise 403. Nothing is read before this check.
2. If the host app passes ``authorize(user, key)``, it must also answer ``True`` (403 otherwise).
   ``user`` comes from the host's ``current_user`` dependency (``None`` when none is given), as
   with persistence-kit's route. Without an authorizer **the signature alone governs**: a
   signed-in user cannot fetch a key no one signed a URL for.
3. A missing object is 404; a bad key 422. The download is streamed from one open file.

The storage comes from ``ObjectStorageDep`` (the configured storage port) unless a
``LocalObjectStorage`` is passed as ``storage``. When the configured storage is not local (S3
hands out its own presigned URLs) these routes answer 404.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the route parameters'
# ``Annotated`` types built inside the builder function.
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ....ports.errors import NotFound, PermissionDenied
from ....ports.storage import DEFAULT_CHUNK_SIZE
from ...storage.local import DEFAULT_ROUTE_PATH, LocalObjectStorage
from ..deps import ObjectStorageDep
from ..errors import error_responses

DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024

Authorizer = Callable[[Any, str], bool | Awaitable[bool]]


class StoredUpload(BaseModel):
    key: str
    size: int


def build_local_export_storage_router(
    *,
    storage: LocalObjectStorage | None = None,
    path: str = DEFAULT_ROUTE_PATH,
    current_user: Callable[..., Any] | None = None,
    authorize: Authorizer | None = None,
    allow_upload: bool = True,
    max_upload_bytes: int | None = DEFAULT_MAX_UPLOAD_BYTES,
    as_attachment: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    tags: list[str] | None = None,
) -> APIRouter:
    """Routes for local signed URLs; ``path`` must match the storage's ``route_path``.

    ``current_user`` is a FastAPI dependency (typically an *optional* current user that
    returns ``None`` for anonymous callers); it is only used to feed ``authorize``, so passing
    it alone is refused. ``authorize`` may be sync or async.
    """
    if current_user is not None and authorize is None:
        raise ValueError(
            "current_user is only used by authorize(user, key); pass an authorizer too "
            "(without one, the URL signature alone governs access)"
        )
    route_path = "/" + path.strip("/")
    router = APIRouter(tags=list(tags) if tags is not None else ["storage"])
    user_dependency = current_user if current_user is not None else _no_user

    local_storage = _configured_storage if storage is None else _fixed_storage(storage)
    StorageParam = Annotated[LocalObjectStorage, Depends(local_storage)]
    UserParam = Annotated[Any, Depends(user_dependency)]

    async def check_access(user: Any, key: str) -> None:
        if authorize is None:
            return
        allowed = authorize(user, key)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            raise PermissionDenied("you may not access this object")

    @router.get(
        route_path + "/{key:path}",
        name="storage_download",
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "The object."},
            **error_responses(401, 403, 404),
        },
    )
    async def download_object(
        key: str,
        store: StorageParam,
        user: UserParam,
        expires: str | None = None,
        signature: str | None = None,
    ) -> StreamingResponse:
        store.check_signature(key, expires, signature)
        await check_access(user, key)
        info, chunks = await store.open_read(key, chunk_size)
        headers = {
            "Content-Type": info.content_type or "application/octet-stream",
            "Content-Length": str(info.size),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
        if as_attachment:
            headers["Content-Disposition"] = _attachment(key)
        return StreamingResponse(chunks, headers=headers)

    if allow_upload:

        @router.put(
            route_path + "/{key:path}",
            name="storage_upload",
            # 404: a key the path cannot hold (a newline, say) matches no route
            responses=error_responses(401, 403, 404),
        )
        async def upload_object(
            key: str,
            request: Request,
            store: StorageParam,
            user: UserParam,
            expires: str | None = None,
            signature: str | None = None,
        ) -> StoredUpload:
            content_type = request.headers.get("content-type")
            store.check_signature(key, expires, signature, method="PUT", content_type=content_type)
            await check_access(user, key)
            declared = request.headers.get("content-length")
            if (
                max_upload_bytes is not None
                and declared is not None
                and declared.isdigit()
                and int(declared) > max_upload_bytes
            ):
                raise _too_large(max_upload_bytes)
            counter = _Counter()
            stored = await store.upload(
                key,
                _limited(request.stream(), max_upload_bytes, counter),
                content_type=content_type,
            )
            return StoredUpload(key=stored, size=counter.total)

    return router


async def _no_user() -> None:
    return None


# ``async def``: a plain ``def`` dependency would cost a thread-pool hop per request.
async def _configured_storage(configured: ObjectStorageDep) -> LocalObjectStorage:
    if not isinstance(configured, LocalObjectStorage):
        raise NotFound("route", "local object storage is not configured")
    return configured


def _fixed_storage(storage: LocalObjectStorage) -> Callable[[], Awaitable[LocalObjectStorage]]:
    async def fixed_storage() -> LocalObjectStorage:
        return storage

    return fixed_storage


class _Counter:
    total = 0


async def _limited(
    body: AsyncIterable[bytes], limit: int | None, counter: _Counter
) -> AsyncIterator[bytes]:
    async for chunk in body:
        counter.total += len(chunk)
        if limit is not None and counter.total > limit:
            raise _too_large(limit)
        yield chunk


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status_code=413, detail=f"the upload is larger than {limit} bytes")


def _attachment(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
