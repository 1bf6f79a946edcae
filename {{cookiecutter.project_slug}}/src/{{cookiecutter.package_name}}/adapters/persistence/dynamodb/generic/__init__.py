"""generic-repo's DynamoDB surface, async first, with its semantics fixed.

Same names as generic-repo 2.0.9 (``load``, ``save``, ``find_all_with_index``, composite-key
methods, ``update(..., conditions=..., rejection_message=...)``, ``data_expiration_days``), but:

- every call is async on ONE aiboto3 client (the backend's, or one opened by ``start()`` /
  ``async with``); :class:`GenericRepository` is the blocking facade with the same methods;
- filters and conditions use the kit's dict syntax (a list means ``in``, several operators
  in one dict are ANDed, ``{"exists": False}`` means "does not exist", ``None`` matches null or
  missing; ``le``/``ge``/``lte``/``gte`` all work) or a boto3 ``Attr``/``Key`` condition;
  conditions and filters run server-side (ConditionExpression / FilterExpression);
- a failed condition raises ``ConditionFailed`` carrying ``rejection_message`` (never a
  ``{"success": False}`` dict); updating a missing item raises ``ItemNotFound`` (updates
  never create items); ``load_or_throw`` raises ``ItemNotFound`` (also a ``ValueError``, as
  generic-repo users catch);
- numbers are lossless (float <-> Decimal), sets stay sets, datetimes are ISO 8601 in UTC;
- ``save`` is one PutItem, no extra read; batch writes go 25 at a time, ``UnprocessedItems``
  are retried with backoff and ``BatchWriteError`` names the keys never written;
- with ``data_expiration_days`` every saved item gets ``ttl_attribute`` = now + N days (epoch
  seconds, DynamoDB's TTL format) and items past it are treated as absent on every read.

Unrelated to the kit's own DynamoDB repository next door (``../repository.py`` and its
mixins); this surface works on any table, schemaless. What is where:

- ``table.py``: the client's lifecycle, the key layout (partition/sort key), TTL, conditions;
- ``reads.py``: single-item loads, partition and index queries, scans, counts, and
  :class:`QueryResults` (``await`` it or ``async for`` over it);
- ``writes.py``: save, delete, conditional update, batch writes;
- ``repository.py``: :class:`AsyncGenericRepository`, the reads and writes together;
- ``blocking.py``: :class:`GenericRepository`, the blocking facade.
"""

from .blocking import GenericRepository
from .reads import QueryResults
from .repository import AsyncGenericRepository
from .table import Conditions, ItemNotFound

__all__ = [
    "AsyncGenericRepository",
    "Conditions",
    "GenericRepository",
    "ItemNotFound",
    "QueryResults",
]
