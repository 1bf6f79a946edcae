"""Object storage on S3 (or any S3-compatible endpoint: moto, MinIO, localstack) via aioboto3.

One client for the adapter's life: ``start()`` enters aioboto3's client context once and
``close()`` leaves it (the lifespan calls both; ``async with`` works too). Calling an operation
before ``start()`` is a programming error (``RuntimeError``), never a hidden client per call.

- ``upload`` of bytes is one ``PutObject``. An async stream is sent as a multipart upload in
  parts of ``part_size`` bytes (at least 5 MiB, S3's minimum), so it is never held whole in
  memory; a stream shorter than one part is a single ``PutObject``. If the stream fails, the
  multipart upload is aborted: S3 only makes an object visible on ``CompleteMultipartUpload``,
  so nothing partial is ever readable.
- ``list(with_metadata=True)`` needs one ``HeadObject`` per key (ListObjectsV2 returns neither
  content type nor metadata); they run concurrently, at most ``list_concurrency`` at a time.
- Presigned URLs are SigV4 and usable by any plain HTTP client. A presigned upload signs the
  content type, so the client must send the returned ``Content-Type`` header.
- Driver errors become kit errors: ``NoSuchKey``/404 -> ``NotFound``; a bad argument S3 refuses
  -> ``InvalidInput``; a missing bucket, denied access, throttling, timeouts and connection
  failures -> ``BackendUnavailable`` (the driver's own message is logged, not returned).

What is where:

- ``adapter.py``: :class:`S3ObjectStorage`: client lifecycle, reads, writes, presigned URLs;
- ``multipart.py``: streamed uploads (multipart, aborted on failure);
- ``errors.py``: driver errors -> kit errors.
"""

from .adapter import (
    DEFAULT_EXPIRES_IN,
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    S3ExportStorageProvider,
    S3ObjectStorage,
)
from .errors import BACKEND, OBJECT

__all__ = [
    "BACKEND",
    "DEFAULT_EXPIRES_IN",
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "OBJECT",
    "S3ExportStorageProvider",
    "S3ObjectStorage",
]
