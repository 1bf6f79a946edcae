"""The one lifecycle every long-lived adapter follows.

The composition root builds each adapter once, calls ``start`` before the first request and
``close`` at shutdown, in reverse order of starting. Readiness (``GET /health/ready``) calls
``ping``. Adapters with nothing to open implement them as no-ops, so the composition root
treats every adapter alike and never probes for methods.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Lifecycle(Protocol):
    """An adapter that may hold clients, connections or pools."""

    async def start(self) -> None:
        """Open what the adapter needs (clients, pools, key caches). Called once."""
        ...

    async def close(self) -> None:
        """Release what ``start`` opened. Called once, at shutdown."""
        ...


@runtime_checkable
class HealthChecked(Lifecycle, Protocol):
    """An adapter whose backend readiness checks ask."""

    async def ping(self) -> None:
        """Return when the backend answers; raise ``BackendUnavailable`` when it does not."""
        ...
