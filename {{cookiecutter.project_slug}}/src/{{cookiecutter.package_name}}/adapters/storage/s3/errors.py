"""S3 driver errors as kit errors: ``NoSuchKey``/404 -> ``NotFound``, a refused argument ->
``InvalidInput``, anything else (missing bucket, denied access, throttling, network) ->
``BackendUnavailable``. The driver's own message is logged, never returned.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from ....ports.errors import BackendUnavailable, InvalidInput, KitError, NotFound

# The package's logger: the name the adapter logged under when it was one module.
logger = logging.getLogger(__package__)

BACKEND = "s3"
OBJECT = "object"
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_INVALID = frozenset(
    {"InvalidArgument", "KeyTooLongError", "MetadataTooLarge", "EntityTooLarge", "InvalidRequest"}
)
_DENIED = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


@contextlib.contextmanager
def s3_errors(bucket: str, key: str) -> Iterator[None]:
    """Translate whatever the driver raises inside the block (``key`` names the object)."""
    try:
        yield
    except (ClientError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
        raise translate(exc, bucket, key) from exc


def translate(exc: Exception, bucket: str, key: str) -> KitError:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _NOT_FOUND:
            return NotFound(OBJECT, key)
        logger.warning("S3 refused an operation on %r in %r: %s", key, bucket, exc)
        if code in _INVALID:
            return InvalidInput(f"S3 rejected {key!r}: {code}")
        if code == "NoSuchBucket":
            return BackendUnavailable(BACKEND, f"bucket {bucket!r} does not exist")
        if code in _DENIED:
            return BackendUnavailable(BACKEND, f"access denied ({code})")
        return BackendUnavailable(BACKEND, code or "request failed")
    logger.warning("S3 unreachable for %r in %r: %r", key, bucket, exc)
    return BackendUnavailable(BACKEND, "the object store did not answer")


def error_code(exc: ClientError) -> str:
    error: Any = exc.response.get("Error", {})
    return str(error.get("Code", ""))
