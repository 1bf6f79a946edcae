"""The S3 adapter: :class:`S3ObjectStorage`, one aioboto3 client over one bucket (the package
docstring lists its semantics); streamed uploads live in ``multipart.py``, error translation
in ``errors.py``.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from ....ports.errors import BackendUnavailable, InvalidInput, KitError, NotFound
from ....ports.storage import (
    DEFAULT_CHUNK_SIZE,
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
from ...aws import OwnedClient, StartCloseContext
from .errors import BACKEND, error_code, s3_errors, translate
from .multipart import upload_stream

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from types_aiobotocore_s3.client import S3Client

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
DEFAULT_EXPIRES_IN = 900


class S3ObjectStorage(StartCloseContext):
    """:class:`~....ports.storage.ObjectStorage` over one bucket; see the package docstring."""

    def __init__(
        self,
        bucket: str,
        *,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        session: aioboto3.Session | None = None,
        default_expires_in: int = DEFAULT_EXPIRES_IN,
        part_size: int = DEFAULT_PART_SIZE,
        addressing_style: Literal["auto", "virtual", "path"] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        list_concurrency: int = 16,
    ) -> None:
        if not bucket:
            raise ValueError("S3ObjectStorage needs a bucket name")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.default_expires_in = validate_expires_in(default_expires_in, DEFAULT_EXPIRES_IN)
        self.part_size = part_size
        self._session = session or aioboto3.Session()
        self._access_key_id = aws_access_key_id or None  # None: the default credential chain
        self._secret_access_key = aws_secret_access_key or None
        # A custom endpoint (moto, MinIO, localstack) rarely resolves bucket subdomains.
        style = addressing_style or ("path" if endpoint_url else "virtual")
        self._config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": style},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        self._list_concurrency = list_concurrency
        self._owned: OwnedClient[S3Client] = OwnedClient()
        self._client: S3Client | None = None

    def __repr__(self) -> str:
        return f"S3ObjectStorage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the one S3 client this adapter uses (idempotent)."""
        if self._client is not None:
            return
        self._client = await self._owned.open(
            self._session.client(
                "s3",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=self._config,
                aws_access_key_id=self._access_key_id,
                aws_secret_access_key=self._secret_access_key,
            )
        )

    async def close(self) -> None:
        self._client = None
        await self._owned.close()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3ObjectStorage.start() was not called (the lifespan opens it)")
        return self._client

    async def ping(self) -> None:
        """Readiness: the bucket answers (needs ``s3:ListBucket``); else ``BackendUnavailable``."""
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise BackendUnavailable(BACKEND, f"bucket {self.bucket!r} does not exist") from exc
            raise self._translate(exc, self.bucket) from exc
        except (BotoCoreError, aiohttp.ClientError, OSError) as exc:
            raise self._translate(exc, self.bucket) from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests and dev; production provisions it)."""
        try:
            await self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise self._translate(exc, self.bucket) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, self.bucket) from exc
        with self._errors(self.bucket):
            try:
                if self.region == "us-east-1":
                    await self.client.create_bucket(Bucket=self.bucket)
                else:
                    await self.client.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration={"LocationConstraint": self.region},  # type: ignore[typeddict-item]
                    )
            except ClientError as exc:
                if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    # --- writes ----------------------------------------------------------------------------------

    async def upload(
        self,
        key: str,
        data: UploadData,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        key = normalize_key(key)
        content_type = resolve_content_type(key, content_type)
        meta = validate_metadata(metadata)
        if isinstance(data, bytes | bytearray | memoryview):
            with self._errors(key):
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=bytes(data),
                    ContentType=content_type,
                    Metadata=meta,
                )
            return key
        if isinstance(data, str) or not hasattr(data, "__aiter__"):
            raise InvalidInput("upload data must be bytes or an async iterable of bytes")
        await upload_stream(self, key, data, content_type, meta)
        return key

    async def delete(self, key: str) -> None:
        key = normalize_key(key)
        with self._errors(key):
            await self.client.delete_object(Bucket=self.bucket, Key=key)

    # --- reads -----------------------------------------------------------------------------------

    async def download(self, key: str) -> bytes:
        key = normalize_key(key)
        with self._errors(key):
            answer = await self.client.get_object(Bucket=self.bucket, Key=key)
            body = answer["Body"]
            async with body:  # (its __aenter__ returns the raw aiohttp response: use `body`)
                return await body.read()

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        key = normalize_key(key)
        chunk_size = validate_chunk_size(chunk_size)
        with self._errors(key):
            answer = await self.client.get_object(Bucket=self.bucket, Key=key)
        body = answer["Body"]
        async with body:
            while True:
                with self._errors(key):
                    chunk = await body.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except NotFound:
            return False
        return True

    async def stat(self, key: str) -> StoredObject:
        return await self._head(normalize_key(key))

    async def _head(self, key: str) -> StoredObject:
        with self._errors(key):
            head = await self.client.head_object(Bucket=self.bucket, Key=key)
        return StoredObject(
            key=key,
            size=head["ContentLength"],
            last_modified=head["LastModified"],
            content_type=head.get("ContentType"),
            metadata=dict(head.get("Metadata", {})),
            etag=head.get("ETag", "").strip('"') or None,
        )

    async def list(
        self, prefix: str = "", *, with_metadata: bool = False
    ) -> builtins.list[StoredObject]:
        prefix = validate_prefix(prefix)
        found: builtins.list[StoredObject] = []
        with self._errors(prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(
                            key=item["Key"],
                            size=item["Size"],
                            last_modified=item["LastModified"],
                            etag=item.get("ETag", "").strip('"') or None,
                        )
                    )
        if with_metadata:
            found = await self._with_metadata(found)
        return sorted(found, key=lambda item: item.key)

    async def _with_metadata(
        self, objects: builtins.list[StoredObject]
    ) -> builtins.list[StoredObject]:
        gate = asyncio.Semaphore(self._list_concurrency)

        async def head(item: StoredObject) -> StoredObject | None:
            async with gate:
                try:  # listed keys may predate our key rules: no normalisation here
                    return await self._head(item.key)
                except NotFound:  # deleted since the listing
                    return None

        heads = await asyncio.gather(*(head(item) for item in objects))
        return [item for item in heads if item is not None]

    # --- presigned URLs --------------------------------------------------------------------------

    async def generate_presigned_url(self, key: str, expires_in: int | None = None) -> str:
        key = normalize_key(key)
        seconds = validate_expires_in(expires_in, self.default_expires_in)
        with self._errors(key):
            return await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=seconds,
            )

    async def generate_presigned_upload(
        self, key: str, content_type: str | None = None, expires_in: int | None = None
    ) -> PresignedUpload:
        key = normalize_key(key)
        content_type = resolve_content_type(key, content_type)
        seconds = validate_expires_in(expires_in, self.default_expires_in)
        with self._errors(key):
            url = await self.client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=seconds,
            )
        return PresignedUpload(
            url=url,
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
        )

    # --- errors ----------------------------------------------------------------------------------

    def _errors(self, key: str) -> AbstractContextManager[None]:
        return s3_errors(self.bucket, key)

    def _translate(self, exc: Exception, key: str) -> KitError:
        return translate(exc, self.bucket, key)


S3ExportStorageProvider = S3ObjectStorage  # persistence-kit's name
