"""Counting what a repository sends: MongoDB commands (PyMongo's command monitoring) and
DynamoDB operations (botocore's event hooks on the real client). The round-trip tests assert
these counts, never timings."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from pymongo import monitoring

from {{cookiecutter.package_name}}.adapters.persistence.dynamodb import DynamoDbBackend


class CommandLog(monitoring.CommandListener):
    """Every command a PyMongo client sends, by name (pass it in ``event_listeners``)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def count(self, name: str) -> int:
        return self.names.count(name)

    async def during(self, call: Awaitable[Any]) -> list[str]:
        """The commands sent while ``call`` runs."""
        self.names.clear()
        await call
        return list(self.names)


class Calls:
    """Every DynamoDB operation the backend's client sends, with its parameters."""

    def __init__(self, backend: DynamoDbBackend) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []
        backend.client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.log.append((model.name, params))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.log]

    def clear(self) -> None:
        self.log.clear()

    def params(self, name: str) -> list[dict[str, Any]]:
        return [params for operation, params in self.log if operation == name]

    async def during(self, call: Awaitable[Any]) -> list[str]:
        """The operations sent while ``call`` runs."""
        self.clear()
        await call
        return self.names
