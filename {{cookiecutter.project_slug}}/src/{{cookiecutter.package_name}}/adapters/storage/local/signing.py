"""The local storage's signed URLs: HMAC-SHA256 tokens over method, key, expiry (and, for
uploads, the content type), checked in constant time; presigned GET and PUT URLs for the routes
``adapters/http/routers/storage.py`` serves.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from ....ports.errors import PermissionDenied
from ....ports.storage import (
    PresignedUpload,
    normalize_key,
    resolve_content_type,
    validate_expires_in,
)

DEFAULT_ROUTE_PATH = "/storage/objects"
DEFAULT_EXPIRES_IN = 900


class SignedUrls:
    """The signing half of :class:`~.adapter.LocalObjectStorage`, which sets these attributes."""

    public_base_url: str
    route_path: str
    default_expires_in: int
    _secret: bytes
    _clock: Callable[[], float]

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
