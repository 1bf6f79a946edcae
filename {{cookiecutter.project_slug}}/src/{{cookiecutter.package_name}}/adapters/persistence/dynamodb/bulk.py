"""Batches larger than one transaction: ``add_many`` and ``delete_many`` of many items.

They cannot be atomic (a transaction holds 100 items). Plain items go through BatchWriteItem
in 25s, after one BatchGetItem per 100 ids that refuses ids already taken (BatchWriteItem
cannot carry conditions). Items whose uniqueness items, reference counters or children must
move with them go in transactions of up to 100 actions, each all-or-nothing and carrying its
own conditions, so nothing is read first: ``add_many`` of 1000 items with one unique field is
20 ``TransactWriteItems`` and nothing else. When a transaction is refused (an id or unique
value taken, a target missing), what the earlier ones wrote is deleted again and the refusal
raised, as if the whole batch had been refused; otherwise (a timeout, an undo that failed)
``BatchWriteError`` names exactly the ids that were not written.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from ....ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    BatchWriteError,
    KitError,
    NotFound,
    TransactionTooLarge,
)
from .base import Current
from .batch import WriteRequest, batch_write
from .serialization import Item
from .staging import TRANSACTION_LIMIT, Conflict, Staging
from .tables import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from .repository import DynamoDbRepository, Prepared


async def write_large_batch(repo: DynamoDbRepository[Any], prepared: Sequence[Prepared]) -> None:
    if repo.layout.unique_table is None and not repo.spec.references:
        failed = await _write_plain(repo, prepared)
    else:
        failed = await _write_transactions(repo, prepared)
    if failed:
        raise BatchWriteError(repo.spec.name, failed)


async def _write_plain(
    repo: DynamoDbRepository[Any], prepared: Sequence[Prepared]
) -> list[Hashable]:
    """BatchWriteItem in 25s, once no id is taken (best effort: a concurrent create of the same
    id in between is overwritten)."""
    now = repo._now()
    for item in await repo._batch_items([k for k, _, _, _ in prepared], (repo._id, TTL_ATTRIBUTE)):
        if not repo._expired(item, now):
            raise AlreadyExists(repo.spec.name, repo._id, item[repo._id]["S"])
    requests = [
        WriteRequest(
            repo.layout.table, {"PutRequest": {"Item": item}}, {repo._id: item[repo._id]}, key
        )
        for key, _, _, item in prepared
    ]
    return await batch_write(
        repo._client, requests, attempts=repo._backend.batch_attempts, what=repo.spec.name
    )


async def _write_transactions(
    repo: DynamoDbRepository[Any], prepared: Sequence[Prepared]
) -> list[Hashable]:
    """Transactions of up to 100 actions, one after the other; returns the ids not written."""
    chunks: list[list[Prepared]] = [[]]
    touched: set[str] = set()
    for entry in prepared:
        footprint = repo._footprint(entry[0], entry[2])
        if len(touched | footprint) > TRANSACTION_LIMIT:
            chunks.append([])
            touched = set()
        chunks[-1].append(entry)
        touched |= footprint
    written: list[str] = []
    failed: list[Hashable] = []
    for chunk in chunks:
        keys = [key for key, _, _, _ in chunk]
        staging = Staging()
        try:
            for entry in chunk:
                repo._stage_new(staging, entry)
            await staging.commit(repo._client, repo.spec.name)
            written.extend(keys)
        except BackendUnavailable:
            # A timeout leaves the outcome unknown: look before reporting (if this read
            # fails too, BackendUnavailable propagates: the state cannot be known).
            present = {i[repo._id]["S"] for i in await repo._batch_items(keys, (repo._id,))}
            written.extend(k for k in keys if k in present)
            failed.extend(k for k in keys if k not in present)
        except Conflict:
            failed.extend(keys)  # cancelled: nothing of this chunk was written
        except KitError as refusal:  # cancelled: nothing of this chunk was written
            left = await _undo(repo, written)
            if left:
                kept = set(left)
                raise BatchWriteError(
                    repo.spec.name, [k for k, _, _, _ in prepared if k not in kept]
                ) from refusal
            raise
    return failed


async def _undo(repo: DynamoDbRepository[Any], keys: list[str]) -> list[str]:
    """Delete what an ``add_many`` wrote before one of its transactions was refused; returns
    the ids still written when that failed."""
    if not keys:
        return []
    try:
        await delete_in_transactions(repo, keys, plain=False)
        return []
    except KitError:
        return [i[repo._id]["S"] for i in await repo._batch_items(keys, (repo._id,))]


async def delete_in_transactions(
    repo: DynamoDbRepository[Any], ids: Sequence[str], *, plain: bool
) -> int:
    """``delete_many``: BatchWriteItem when nothing moves with the items, else transactions
    of up to 100 items (items that changed meanwhile are then deleted one by one)."""
    now = repo._now()
    if plain:
        items = await repo._batch_items(ids, (repo._id, TTL_ATTRIBUTE))
        requests = [
            WriteRequest(
                repo.layout.table,
                {"DeleteRequest": {"Key": {repo._id: item[repo._id]}}},
                {repo._id: item[repo._id]},
                item[repo._id]["S"],
            )
            for item in items
        ]
        failed = await batch_write(
            repo._client, requests, attempts=repo._backend.batch_attempts, what=repo.spec.name
        )
        if failed:
            raise BatchWriteError(repo.spec.name, failed)
        return sum(1 for item in items if not repo._expired(item, now))
    live = [item for item in await repo._batch_items(ids) if not repo._expired(item, now)]
    removed, again = await _delete_items(repo, live)
    for key in again:
        try:
            await repo.delete(key)
            removed += 1
        except NotFound:
            pass
    return removed


async def _delete_items(
    repo: DynamoDbRepository[Any], items: Sequence[Item]
) -> tuple[int, list[str]]:
    """Delete these stored items in transactions of up to 100 items; returns how many were
    deleted and the keys to delete one by one (something moved meanwhile)."""
    removed, again = 0, list[str]()
    staging, chunk = Staging(), list[str]()
    pending = list(items)
    while pending:
        item = pending[0]
        key = item[repo._id]["S"]
        saved = staging.checkpoint()
        try:
            staged, view = staging.view(repo.layout.table, repo._key(key))
            if not staged or view is not None:  # else deleted by a cascade already
                stored = None if staged else item
                current = (
                    Current(view, None)
                    if staged
                    else Current(staging.adjust(repo.layout.table, repo._key(key), item), stored)
                )
                assert current.item is not None
                await repo._stage_delete(staging, key, current, [repo._same(key, current.item)])
            chunk.append(key)
            pending.pop(0)
        except TransactionTooLarge:
            staging.restore(saved)
            if not chunk:
                raise
            done, retry = await _send(repo, staging, chunk)
            removed, again = removed + done, again + retry
            staging, chunk = Staging(), []
        except Conflict:
            staging.restore(saved)
            again.append(key)
            pending.pop(0)
    done, retry = await _send(repo, staging, chunk)
    return removed + done, again + retry


async def _send(
    repo: DynamoDbRepository[Any], staging: Staging, chunk: list[str]
) -> tuple[int, list[str]]:
    if not chunk:
        return 0, []
    try:
        await staging.commit(repo._client, repo.spec.name)
        return len(chunk), []
    except Conflict:
        return 0, chunk
