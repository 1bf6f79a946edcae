"""BatchWriteItem / BatchGetItem with DynamoDB's limits and its partial failures handled.

- Writes go in requests of 25; whatever DynamoDB hands back as ``UnprocessedItems`` is resent
  with jittered exponential backoff, up to ``attempts`` tries. What is still unprocessed then
  is returned (by caller-chosen tag), never silently dropped.
- Reads go in requests of 100 keys; ``UnprocessedKeys`` are retried the same way; keys still
  unprocessed after the last try raise ``BackendUnavailable`` (a partial read is not a result).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ....ports.errors import BackendUnavailable
from .errors import BACKEND, backoff, driver_errors
from .serialization import Item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

WRITE_CHUNK = 25
READ_CHUNK = 100


def key_signature(table: str, key: Mapping[str, Any]) -> str:
    return table + "\x00" + json.dumps(key, sort_keys=True, default=str)


@dataclass(frozen=True)
class WriteRequest:
    table: str
    request: dict[str, Any]  # {"PutRequest": {"Item": ...}} or {"DeleteRequest": {"Key": ...}}
    key: Mapping[str, Any]  # the item's key attributes (to recognise it when unprocessed)
    tag: Hashable  # what the caller wants back when this request fails


async def batch_write(
    client: DynamoDBClient,
    requests: Sequence[WriteRequest],
    *,
    attempts: int,
    what: str,
    concurrency: int = 4,
) -> list[Hashable]:
    """Send every request; return the tags of those still unprocessed after ``attempts``."""
    chunks = [requests[i : i + WRITE_CHUNK] for i in range(0, len(requests), WRITE_CHUNK)]
    gate = asyncio.Semaphore(concurrency)

    async def run(chunk: Sequence[WriteRequest]) -> list[Hashable]:
        async with gate:
            return await _write_chunk(client, chunk, attempts=attempts, what=what)

    failed: list[Hashable] = []
    for result in await asyncio.gather(*(run(chunk) for chunk in chunks)):
        failed.extend(result)
    return list(dict.fromkeys(failed))


async def _write_chunk(
    client: DynamoDBClient, chunk: Sequence[WriteRequest], *, attempts: int, what: str
) -> list[Hashable]:
    by_signature = {key_signature(r.table, r.key): r for r in chunk}
    pending: dict[str, list[dict[str, Any]]] = {}
    for r in chunk:
        pending.setdefault(r.table, []).append(r.request)
    key_names = {r.table: tuple(r.key) for r in chunk}
    for attempt in range(attempts):
        if attempt:
            await backoff(attempt)
        with driver_errors(what, reading=False):
            response = await client.batch_write_item(RequestItems=pending)  # type: ignore[arg-type]
        unprocessed: dict[str, list[dict[str, Any]]] = dict(
            response.get("UnprocessedItems") or {}  # type: ignore[arg-type]
        )
        if not any(unprocessed.values()):
            return []
        pending = unprocessed
    failed: list[Hashable] = []
    for table, table_requests in pending.items():
        for request in table_requests:
            source = request.get("PutRequest", {}).get("Item") or request.get(
                "DeleteRequest", {}
            ).get("Key", {})
            key = {name: source.get(name) for name in key_names.get(table, ())}
            match = by_signature.get(key_signature(table, key))
            failed.append(match.tag if match is not None else json.dumps(key, default=str))
    return failed


async def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Item],
    *,
    attempts: int,
    what: str,
    projection: Mapping[str, Any] | None = None,
    consistent: bool = True,
) -> list[Item]:
    """Every item that exists among ``keys`` (unordered), in requests of 100."""
    found: list[Item] = []
    for start in range(0, len(keys), READ_CHUNK):
        request: dict[str, Any] = {"Keys": list(keys[start : start + READ_CHUNK])}
        request["ConsistentRead"] = consistent
        if projection:
            request.update(projection)
        pending: dict[str, Any] = {table: request}
        for attempt in range(attempts):
            if attempt:
                await backoff(attempt)
            with driver_errors(what):
                response = await client.batch_get_item(RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))  # type: ignore[arg-type]
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending or not any(p.get("Keys") for p in pending.values()):
                break
        else:
            raise BackendUnavailable(
                BACKEND, f"{what}: keys left unprocessed after {attempts} tries"
            )
    return found
