"""generic-repo's blocking facade: :class:`AsyncGenericRepository` run on a private event loop
thread, for scripts and thread-based code that cannot ``await``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from ...sync import _LoopThread
from .repository import AsyncGenericRepository
from .table import Conditions

R = TypeVar("R")


class GenericRepository:
    """The blocking facade: :class:`AsyncGenericRepository` run on a private event loop
    thread (async clients are bound to the loop that opened them). Same method names."""

    def __init__(self, table_name: str, primary_key_name: str, **options: Any) -> None:
        if "client" in options:
            raise TypeError(
                "GenericRepository opens its own client; share one with the async class"
            )
        self._runner = _LoopThread()
        self._repo = AsyncGenericRepository(table_name, primary_key_name, **options)
        try:
            self._run(self._repo.start())
        except BaseException:
            self._runner.stop()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return self._runner.run(coroutine)

    def close(self) -> None:
        self._run(self._repo.close())
        self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def load(self, primary_key_value: Any) -> dict[str, Any] | None:
        return self._run(self._repo.load(primary_key_value))

    def load_or_throw(self, primary_key_value: Any) -> dict[str, Any]:
        return self._run(self._repo.load_or_throw(primary_key_value))

    def save(self, primary_key_value: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(self._repo.save(primary_key_value, data))

    def delete(self, primary_key_value: Any) -> None:
        self._run(self._repo.delete(primary_key_value))

    def load_by_composite_key(self, key_dict: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._run(self._repo.load_by_composite_key(key_dict))

    def save_with_composite_key(self, item_data: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(self._repo.save_with_composite_key(item_data))

    def delete_by_composite_key(self, key_dict: Mapping[str, Any]) -> None:
        self._run(self._repo.delete_by_composite_key(key_dict))

    def update(
        self,
        primary_key_value: Any,
        update_data: Mapping[str, Any],
        conditions: Conditions | None = None,
        rejection_message: str | None = None,
    ) -> dict[str, Any]:
        return self._run(
            self._repo.update(primary_key_value, update_data, conditions, rejection_message)
        )

    def update_by_composite_key(
        self,
        key_dict: Mapping[str, Any],
        update_data: Mapping[str, Any],
        conditions: Conditions | None = None,
        rejection_message: str | None = None,
    ) -> dict[str, Any]:
        return self._run(
            self._repo.update_by_composite_key(key_dict, update_data, conditions, rejection_message)
        )

    def save_batch(self, items: Sequence[Mapping[str, Any]]) -> None:
        self._run(self._repo.save_batch(items))

    def delete_batch_by_keys(self, keys: Sequence[Mapping[str, Any] | Any]) -> None:
        self._run(self._repo.delete_batch_by_keys(keys))

    def find_all(
        self, partition_key: Any, filters: Conditions | None = None
    ) -> list[dict[str, Any]]:
        return self._run(self._repo.find_all(partition_key, filters).collect())

    def find_all_with_index(
        self, index_name: str, key_name: str, key_value: Any, filters: Conditions | None = None
    ) -> list[dict[str, Any]]:
        found = self._repo.find_all_with_index(index_name, key_name, key_value, filters)
        return self._run(found.collect())

    def find_one_with_index(
        self, index_name: str, key_name: str, key_value: Any, filters: Conditions | None = None
    ) -> dict[str, Any] | None:
        return self._run(self._repo.find_one_with_index(index_name, key_name, key_value, filters))

    def load_all(self, filters: Conditions | None = None) -> Iterator[dict[str, Any]]:
        pages = self._repo.load_all(filters)
        try:
            while True:
                done, item = self._run(_next(pages))
                if done or item is None:
                    return
                yield item
        finally:
            self._run(_close(pages))

    def count(self, filters: Conditions | None = None) -> int:
        return self._run(self._repo.count(filters))


async def _next(iterator: AsyncIterator[R]) -> tuple[bool, R | None]:
    try:
        return False, await anext(iterator)
    except StopAsyncIteration:
        return True, None


async def _close(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
