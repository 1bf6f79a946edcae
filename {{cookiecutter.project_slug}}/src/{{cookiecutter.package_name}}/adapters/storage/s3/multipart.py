"""Streamed uploads to S3: parts of ``part_size`` bytes (never the whole stream in memory); a
stream shorter than one part is a single ``PutObject``. A failure aborts the multipart upload:
S3 shows an object only on ``CompleteMultipartUpload``, so nothing partial is ever readable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ....ports.errors import InvalidInput
from .errors import s3_errors

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

    from .adapter import S3ObjectStorage

# The package's logger: the name the adapter logged under when it was one module.
logger = logging.getLogger(__package__)


async def upload_stream(
    storage: S3ObjectStorage,
    key: str,
    data: AsyncIterable[bytes],
    content_type: str,
    meta: dict[str, str],
) -> None:
    """Upload ``data`` under ``key`` through ``storage`` (the adapter, not its client, so that
    ``client`` is read at each call, as the adapter's own methods do)."""
    bucket, part_size = storage.bucket, storage.part_size
    buffer = bytearray()
    upload_id: str | None = None
    parts: list[CompletedPartTypeDef] = []
    try:
        async for chunk in data:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise InvalidInput("an upload stream must yield bytes")
            buffer += chunk
            while len(buffer) >= part_size:
                if upload_id is None:
                    with s3_errors(bucket, key):
                        created = await storage.client.create_multipart_upload(
                            Bucket=bucket, Key=key, ContentType=content_type, Metadata=meta
                        )
                    upload_id = created["UploadId"]
                part = bytes(buffer[:part_size])
                del buffer[:part_size]
                parts.append(await _upload_part(storage, key, upload_id, len(parts) + 1, part))
        if upload_id is None:
            with s3_errors(bucket, key):
                await storage.client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=bytes(buffer),
                    ContentType=content_type,
                    Metadata=meta,
                )
            return
        if buffer:
            parts.append(await _upload_part(storage, key, upload_id, len(parts) + 1, bytes(buffer)))
        with s3_errors(bucket, key):
            await storage.client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
    except BaseException:
        if upload_id is not None:
            await asyncio.shield(_abort(storage, key, upload_id))
        raise


async def _upload_part(
    storage: S3ObjectStorage, key: str, upload_id: str, number: int, body: bytes
) -> CompletedPartTypeDef:
    with s3_errors(storage.bucket, key):
        answer = await storage.client.upload_part(
            Bucket=storage.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
    return {"ETag": answer["ETag"], "PartNumber": number}


async def _abort(storage: S3ObjectStorage, key: str, upload_id: str) -> None:
    try:
        await storage.client.abort_multipart_upload(
            Bucket=storage.bucket, Key=key, UploadId=upload_id
        )
    except (ClientError, BotoCoreError, OSError):
        # A lifecycle rule (AbortIncompleteMultipartUpload) cleans up what this cannot.
        logger.warning("could not abort multipart upload %s of %r", upload_id, key)
