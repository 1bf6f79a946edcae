"""Object storage on the local filesystem, with HMAC-signed expiring URLs.

Layout under ``base_dir``: each object is the plain file ``base_dir/<key>`` (so existing
persistence-kit export directories keep working); its content type and metadata live in the
sidecar ``.kit-meta-<name>.json`` next to it (``.kit-`` names are reserved, so a sidecar can
never collide with an object or a directory; a file placed by hand without a sidecar gets a
content type guessed from its name). Keys are checked by the port's
:func:`~....ports.storage.normalize_key` and the resolved path must stay inside ``base_dir`` (a
symlink pointing out is refused too).

Writes are atomic: bytes go to a temp file ``.kit-tmp-*`` in the target's own directory, are
fsynced, and then ``os.replace`` puts the sidecar and then the file in place (the file is the
commit point: an object exists when its file does), and the directory is fsynced. A stream that
fails half way, or a crash, leaves no object and removes its temp file. Files are created with
mode 0600 (private to the service's user). Reads never create directories.

Every filesystem call runs in a worker thread (``asyncio.to_thread``), so a slow disk never
blocks the event loop; streamed uploads are coalesced into writes of at least 256 KiB.
Filesystem failures become kit errors: a name too long for the filesystem is ``InvalidInput``,
any other ``OSError`` (disk full, permissions, unmounted volume) ``BackendUnavailable``.

Signed URLs: ``<public_base_url><route_path>/<key>?expires=<unix>&signature=<hex>`` where the
signature is HMAC-SHA256 over method, key, expiry (and, for uploads, the content type), compared
with :func:`hmac.compare_digest`. The FastAPI routes that serve them are built by
``adapters/http/routers/storage.py``.

What is where:

- ``files.py``: the blocking filesystem work: key -> path layout, sidecars, atomic writes,
  reads and listing;
- ``signing.py``: the signed URLs: tokens, their checks, presigned GET and PUT;
- ``adapter.py``: :class:`LocalObjectStorage`, the async port running the file work in threads.
"""

from .adapter import WRITE_BUFFER_BYTES, LocalExportStorageProvider, LocalObjectStorage
from .files import BACKEND, META_PREFIX, OBJECT, TMP_PREFIX, LocalFiles
from .signing import DEFAULT_EXPIRES_IN, DEFAULT_ROUTE_PATH, SignedUrls

__all__ = [
    "BACKEND",
    "DEFAULT_EXPIRES_IN",
    "DEFAULT_ROUTE_PATH",
    "META_PREFIX",
    "OBJECT",
    "TMP_PREFIX",
    "WRITE_BUFFER_BYTES",
    "LocalExportStorageProvider",
    "LocalFiles",
    "LocalObjectStorage",
    "SignedUrls",
]
