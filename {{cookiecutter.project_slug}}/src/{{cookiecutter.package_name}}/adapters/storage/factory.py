"""Build the configured object storage adapter from settings.

``build_object_storage(settings)`` makes a new adapter for ``STORAGE_BACKEND``;
``build_local_storage`` / ``build_s3_storage`` make one of each (the container's Selector);
``get_export_storage(settings)`` is persistence-kit's cached entry point: the same storage
settings give the same instance. Either way the caller owns the lifecycle: ``await
storage.start()`` before use and ``await storage.close()`` at shutdown (a no-op for the local
adapter, the S3 client's open and close for S3).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pydantic import SecretStr

from ...settings import PersistenceKitSettings, StorageBackend
from .local import LocalObjectStorage

if TYPE_CHECKING:
    from .s3 import S3ObjectStorage

# The S3 adapter is imported only when it is built: aioboto3 and botocore take about a second
# to import, which a service on local storage should not pay at start-up.
type StorageAdapter = LocalObjectStorage | S3ObjectStorage  # evaluated lazily

_cache: dict[tuple[object, ...], StorageAdapter] = {}
_cache_lock = threading.Lock()


def build_object_storage(settings: PersistenceKitSettings) -> StorageAdapter:
    """A new adapter for ``settings.storage_backend``."""
    if settings.storage_backend is StorageBackend.S3:
        return build_s3_storage(settings)
    return build_local_storage(settings)


def build_local_storage(settings: PersistenceKitSettings) -> LocalObjectStorage:
    return LocalObjectStorage(
        settings.local_storage_dir,
        settings.public_base_url,
        settings.storage_signing_secret.get_secret_value(),
        default_expires_in=settings.presigned_url_ttl_seconds,
    )


def build_s3_storage(settings: PersistenceKitSettings) -> S3ObjectStorage:
    from .s3 import S3ObjectStorage

    return S3ObjectStorage(
        settings.s3_bucket,
        region=settings.aws_region,
        endpoint_url=settings.s3_effective_endpoint_url,
        aws_access_key_id=_secret(settings.aws_access_key_id),
        aws_secret_access_key=_secret(settings.aws_secret_access_key),
        default_expires_in=settings.presigned_url_ttl_seconds,
    )


def get_export_storage(settings: PersistenceKitSettings) -> StorageAdapter:
    """The adapter for these settings, built once and cached (persistence-kit's name)."""
    key = _cache_key(settings)
    with _cache_lock:
        storage = _cache.get(key)
        if storage is None:
            storage = _cache[key] = build_object_storage(settings)
        return storage


def clear_export_storage_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _cache_key(settings: PersistenceKitSettings) -> tuple[object, ...]:
    return (
        settings.storage_backend,
        settings.local_storage_dir,
        settings.public_base_url,
        settings.storage_signing_secret.get_secret_value(),
        settings.s3_bucket,
        settings.aws_region,
        settings.s3_effective_endpoint_url,
        _secret(settings.aws_access_key_id),
        _secret(settings.aws_secret_access_key),
        settings.presigned_url_ttl_seconds,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
