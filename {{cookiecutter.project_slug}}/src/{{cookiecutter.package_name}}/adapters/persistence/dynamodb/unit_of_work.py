"""Units of work on DynamoDB: the writes of a unit are staged, then sent as ONE
``TransactWriteItems`` when the unit exits cleanly.

``transaction()`` puts the unit in a ``ContextVar``, so the backend's repositories (in this task
and the tasks it starts) stage into it instead of writing. Each write checks what it can against
the stored state and the unit's own staged writes (its kit error is raised there and then, and
the write is left out of the unit), and returns the entity it will store. Reads (``get``,
``find``...) see the stored state, not the unit's staged writes. At a clean exit everything is
sent at once; version, condition, unique and reference failures are raised then, mapped to the
same kit errors as outside a unit. An exception or a cancellation inside the unit sends nothing.
A unit holds at most 100 items (``TransactionTooLarge`` when a write would need more).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from ....ports.errors import ConcurrencyConflict
from .staging import Conflict, Staging

if TYPE_CHECKING:
    from .backend import DynamoDbBackend

R = TypeVar("R")


class DynamoDbUnit:
    def __init__(self, backend: DynamoDbBackend) -> None:
        self.backend = backend
        self.staging = Staging(in_unit=True)
        self.open = True
        self._lock = asyncio.Lock()  # one write at a time: each stages all or nothing

    async def run(self, build: Callable[[Staging], Awaitable[R]], what: str, key: str) -> R:
        """Stage one write; if it raises, the unit is left as it was."""
        async with self._lock:
            saved = self.staging.checkpoint()
            try:
                return await build(self.staging)
            except Conflict as exc:
                self.staging.restore(saved)
                raise ConcurrencyConflict(what, key, None) from exc
            except BaseException:
                self.staging.restore(saved)
                raise


_UNIT: ContextVar[DynamoDbUnit | None] = ContextVar("dynamodb_unit_of_work", default=None)


def current_unit(backend: DynamoDbBackend) -> DynamoDbUnit | None:
    """The open unit of work of ``backend`` this task writes in, if any."""
    unit = _UNIT.get()
    if unit is None or not unit.open or unit.backend is not backend:
        return None
    return unit


@asynccontextmanager
async def transaction(backend: DynamoDbBackend) -> AsyncIterator[None]:
    """A unit of work on ``backend``; inside another one of the same backend, part of it."""
    if current_unit(backend) is not None:
        yield
        return
    unit = DynamoDbUnit(backend)
    token = _UNIT.set(unit)
    try:
        yield
    finally:
        unit.open = False
        _UNIT.reset(token)
    await unit.staging.commit(backend.client, "unit of work")
