"""Writes staged for one ``TransactWriteItems``: one action per item, sent once.

Every write of the repository is staged here before it is sent: the entity item, its
uniqueness items, the reference counters of its targets and, for a delete, its children. A
transaction may not touch one item twice, so a second write to a staged item is merged into
the first: a counter change joins the item's Put or Update, an Update of a staged Put changes
the Put, a Delete replaces what was staged. The merged write's conditions are checked against
the staged state in Python right away (the kit error is raised then), so the conditions sent
are only ever about the stored state. A unit of work stages all its writes in one ``Staging``.

``commit`` sends one request: PutItem/UpdateItem/DeleteItem for a single action (half the
write cost of a transaction), else one ``TransactWriteItems`` (at most 100 actions:
``TransactionTooLarge`` is raised while staging, before anything is sent). A failed condition
is mapped to its kit error with the item DynamoDB returns (see ``conditions``).

botocore resends a request whose reply it did not get (a read timeout, a dropped connection,
a 5xx), and the server may well have applied the first attempt. A transaction carries a
``ClientRequestToken``, so DynamoDB answers the resend with the first outcome; a single
PutItem/UpdateItem/DeleteItem has no such token, and emulators (moto) ignore it, so there the
resend runs again and fails on our own write: the new item's id is taken, by itself. A refusal
of a resent request is therefore our own write when every failed condition found exactly what
this request writes (and at least one found an item it wrote): it was applied, not refused.
Only new items (``Free`` keys) are recognised so: a change to an existing item is retried as a
conflict, since another writer's change from the same version may be identical to ours.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ....ports.errors import BackendUnavailable, InvalidInput, TransactionTooLarge
from .conditions import Cond, Free, counter, number, same_value
from .errors import BACKEND, DRIVER_ERRORS, backoff, error_code, failed_item, translate
from .expressions import Expression, join
from .serialization import Item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

TRANSACTION_LIMIT = 100
SEND_ATTEMPTS = 8
CCF = "ConditionalCheckFailedException"
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class Conflict(Exception):
    """Someone wrote between our read and our write: read again (outside a unit of work)."""


def signature(table: str, key: Item) -> str:
    return table + "\x00" + json.dumps(key, sort_keys=True, default=str)


@dataclass
class Entry:
    """What is staged for one item: its effect, its conditions (on the stored item) and the
    changes of its reference counters."""

    table: str
    key: Item
    effect: str | None = None  # "put" | "update" | "delete"; None: conditions/counters only
    item: Item = field(default_factory=dict)  # put: the item; update: the attributes to set
    removes: set[str] = field(default_factory=set)  # update: the attributes to remove
    base: Item | None = None  # update: the stored item the attributes are set on
    conds: list[Cond] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def copy(self) -> Entry:
        return Entry(
            self.table,
            self.key,
            self.effect,
            dict(self.item),
            set(self.removes),
            self.base,
            list(self.conds),
            dict(self.counters),
        )

    def view(self) -> Item | None:
        """The item as it will be once this entry is written (for an entry with an effect)."""
        if self.effect == "delete":
            return None
        if self.effect == "put":
            view = dict(self.item)
        else:
            view = {**(self.base or {}), **self.item}
            for name in self.removes:
                view.pop(name, None)
        for attribute, delta in self.counters.items():
            view[attribute] = number(counter(view, attribute) + delta)
        return view


class Staging:
    """The writes of one operation (or of one unit of work) on the way to one transaction."""

    def __init__(self, *, in_unit: bool = False) -> None:
        self.entries: dict[str, Entry] = {}
        self.now = int(time.time())
        self.in_unit = in_unit

    # --- reading what is staged ------------------------------------------------------------

    def view(self, table: str, key: Item) -> tuple[bool, Item | None]:
        """(True, the item as staged) when a write to it is staged, else (False, None)."""
        entry = self.entries.get(signature(table, key))
        if entry is None or entry.effect is None:
            return False, None
        return True, entry.view()

    def adjust(self, table: str, key: Item, item: Item | None) -> Item | None:
        """A stored item with the counter changes staged for it applied."""
        entry = self.entries.get(signature(table, key))
        if item is None or entry is None or not entry.counters:
            return item
        adjusted = dict(item)
        for attribute, delta in entry.counters.items():
            adjusted[attribute] = number(counter(item, attribute) + delta)
        return adjusted

    def staged(self, table: str) -> list[Item]:
        """The items of ``table`` as staged writes leave them (deleted ones left out)."""
        views = (e.view() for e in self.entries.values() if e.table == table and e.effect)
        return [v for v in views if v is not None]

    def checkpoint(self) -> dict[str, Entry]:
        return {sig: entry.copy() for sig, entry in self.entries.items()}

    def restore(self, saved: dict[str, Entry]) -> None:
        self.entries = saved

    # --- staging -----------------------------------------------------------------------------

    def stage(
        self,
        table: str,
        key: Item,
        *,
        effect: str | None = None,
        item: Item | None = None,
        removes: set[str] | None = None,
        base: Item | None = None,
        conds: list[Cond] | None = None,
        counters: dict[str, int] | None = None,
    ) -> None:
        """Stage one write to one item; ``conds`` are about the item before this write."""
        sig = signature(table, key)
        entry = self.entries.get(sig)
        if entry is None:
            if len(self.entries) >= TRANSACTION_LIMIT:
                raise TransactionTooLarge(
                    f"a DynamoDB transaction writes at most {TRANSACTION_LIMIT} items; "
                    "this one needs more (write fewer items at once)"
                )
            entry = self.entries[sig] = Entry(table, key)
        pending = list(conds or ())
        if entry.effect is not None:
            view = entry.view()
            for cond in pending:
                if not cond.holds(view, self.now):
                    if cond.skip:
                        return
                    raise cond.failure()
            pending = []
        elif entry.counters:
            pending = [cond.shifted(entry.counters) for cond in pending]
        entry.conds.extend(pending)
        if entry.effect != "delete":
            for attribute, delta in (counters or {}).items():
                entry.counters[attribute] = entry.counters.get(attribute, 0) + delta
        if effect is None:
            return
        if effect == "delete":
            entry.effect, entry.item, entry.removes, entry.counters = "delete", {}, set(), {}
        elif effect == "put":
            entry.effect, entry.item, entry.removes = "put", dict(item or {}), set()
        elif entry.effect is None:
            entry.effect, entry.item, entry.removes = "update", dict(item or {}), set(removes or ())
            entry.base = base
        else:  # an update of a staged put or update
            assert entry.effect in ("put", "update"), "an update of a deleted item"
            entry.item.update(item or {})
            for name in removes or ():
                entry.item.pop(name, None)
            if entry.effect == "update":
                entry.removes = (entry.removes - set(item or {})) | set(removes or ())

    # --- sending -----------------------------------------------------------------------------

    def actions(self) -> list[tuple[Entry, str, dict[str, Any]]]:
        built = [(entry, _action(entry, self.now)) for entry in self.entries.values()]
        return [(entry, kind, body) for entry, (kind, body) in built if kind]

    async def commit(self, client: DynamoDBClient, what: str) -> None:
        """Send everything staged as one request; raise the kit error of a failed condition
        (``Conflict`` outside a unit when only "someone wrote in between" failed)."""
        token: str | None = None
        built: list[tuple[Entry, str, dict[str, Any]]] = []
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            if token is None:  # a new request (not the resend of one still in progress)
                self.now = int(time.time())
                built, token = self.actions(), str(uuid.uuid4())
                if not built:
                    return
            try:
                await _send(client, built, token)
                return
            except ClientError as exc:
                if error_code(exc) == "TransactionInProgressException":
                    continue  # the same request again: its token makes it apply at most once
                token = None
                failed = _failures(exc, built)
                if failed is not None:
                    if _resent(exc) and _ours(failed):
                        return  # an earlier attempt was applied; its reply was lost
                    self._resolve(failed)
                    continue
                if not _retryable(exc):
                    raise _refused(exc, what) from exc
            except DRIVER_ERRORS as exc:
                raise translate(exc, what, reading=False) from exc
        raise BackendUnavailable(BACKEND, f"{what}: the write kept conflicting; try again")

    def _resolve(self, failed: list[tuple[Entry, Item | None]]) -> None:
        """Raise what the failed conditions mean; return to resend (a vanished target's
        decrement dropped, or nothing identifiable failed)."""
        errors: list[Cond] = []
        conflicts: list[Cond] = []
        for entry, old in failed:
            broken = [c for c in entry.conds if not c.holds(old, self.now)]
            hard = [c for c in broken if not c.skip]
            if hard:
                (conflicts if hard[0].retry else errors).append(hard[0])
            elif broken:
                del self.entries[signature(entry.table, entry.key)]
        if errors:
            raise errors[0].failure()
        if conflicts:
            if self.in_unit:
                raise conflicts[0].failure()
            raise Conflict()


def _action(entry: Entry, now: int) -> tuple[str, dict[str, Any]]:
    expr = Expression()
    condition = join("AND", [cond.build(expr, now) for cond in entry.conds])
    body: dict[str, Any] = {"TableName": entry.table}
    counters = {a: d for a, d in entry.counters.items() if d}
    if entry.effect == "put":
        kind = "Put"
        body["Item"] = {**entry.item, **{a: number(d) for a, d in counters.items()}}
    elif entry.effect == "delete":
        kind = "Delete"
        body["Key"] = entry.key
    elif entry.effect == "update" or counters:
        kind = "Update"
        body["Key"] = entry.key
        sets = [
            f"{expr.name(name)} = {expr.value(av)}"
            for name, av in entry.item.items()
            if name not in entry.key
        ]
        zero = expr.value(number(0)) if counters else ""
        for attribute, delta in counters.items():
            n = expr.name(attribute)
            sets.append(f"{n} = if_not_exists({n}, {zero}) + {expr.value(number(delta))}")
        update = ("SET " + ", ".join(sets)) if sets else ""
        if entry.removes:
            update += " REMOVE " + ", ".join(expr.name(name) for name in sorted(entry.removes))
        if not update.strip():
            kind = "ConditionCheck"
        else:
            body["UpdateExpression"] = update.strip()
    else:
        kind = "ConditionCheck"
    if kind == "ConditionCheck":
        if condition is None:
            return "", {}
        body = {"TableName": entry.table, "Key": entry.key}
    if condition is not None:
        body["ConditionExpression"] = condition
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    body.update(expr.params())
    return kind, body


async def _send(
    client: DynamoDBClient, built: list[tuple[Entry, str, dict[str, Any]]], token: str
) -> None:
    if len(built) == 1 and built[0][1] != "ConditionCheck":
        _, kind, body = built[0]
        if kind == "Put":
            await client.put_item(**body)
        elif kind == "Delete":
            await client.delete_item(**body)
        else:
            await client.update_item(**body)
        return
    await client.transact_write_items(
        TransactItems=[{kind: body} for _, kind, body in built],  # type: ignore[misc]
        ClientRequestToken=token,  # resends (botocore's, or ours when in progress) apply once
    )


def _failures(
    exc: ClientError, built: list[tuple[Entry, str, dict[str, Any]]]
) -> list[tuple[Entry, Item | None]] | None:
    """The entries whose condition failed, with the item each found (None: no item)."""
    code = error_code(exc)
    if code == CCF and len(built) == 1:
        return [(built[0][0], failed_item(exc))]
    if code != "TransactionCanceledException":
        return None
    reasons: list[Any] = list(exc.response.get("CancellationReasons") or [])
    failed = [
        (built[i][0], dict(reason["Item"]) if reason.get("Item") else None)
        for i, reason in enumerate(reasons[: len(built)])
        if reason.get("Code") == "ConditionalCheckFailed"
    ]
    return failed or None


def _resent(exc: ClientError) -> bool:
    """botocore sent this request more than once: an earlier attempt may have been applied."""
    metadata: Any = exc.response.get("ResponseMetadata") or {}
    return int(metadata.get("RetryAttempts") or 0) > 0


def _ours(failed: list[tuple[Entry, Item | None]]) -> bool:
    """Every failed condition found what its entry writes (no item where it deletes), and at
    least one found an item it wrote: the request's own effect, not someone else's write."""
    written = False
    for entry, found in failed:
        if entry.effect != "put" or not any(isinstance(c, Free) for c in entry.conds):
            # Only a new item is recognisable: two writers changing one item from the same
            # version (a throttle counter) may write identical values, and the loser would take
            # the winner's write for its own.
            return False
        view = entry.view()
        if view is None or found is None:
            if view is not None or found is not None:
                return False
        elif same_value({"M": found}, {"M": view}):
            written = True
        else:
            return False
    return written


def _retryable(exc: ClientError) -> bool:
    code = error_code(exc)
    if code == "TransactionConflictException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons: list[Any] = list(exc.response.get("CancellationReasons") or [])
    return any(str(r.get("Code")) in _RETRYABLE for r in reasons)


def _refused(exc: ClientError, what: str) -> Exception:
    if error_code(exc) == "TransactionCanceledException":
        reasons: list[Any] = list(exc.response.get("CancellationReasons") or [])
        logger.warning("DynamoDB refused a transaction on %s: %s", what, reasons)
        if any(r.get("Code") == "ValidationError" for r in reasons):
            return InvalidInput(f"DynamoDB cannot store this {what}")
    return translate(exc, what, reading=False)
