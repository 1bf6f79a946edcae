"""The one way an adapter holds an aioboto3 client: entered once (in the lifespan's
``start()``), closed once, never opened per call."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Generic, Self, TypeVar

C = TypeVar("C")


class OwnedClient(Generic[C]):
    def __init__(self) -> None:
        self._stack: AsyncExitStack | None = None

    async def open(self, context: AbstractAsyncContextManager[C]) -> C:
        stack = AsyncExitStack()
        client = await stack.enter_async_context(context)
        self._stack = stack
        return client

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()


class StartCloseContext:
    """``async with adapter:`` for adapters that have ``start()`` and ``close()``."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
