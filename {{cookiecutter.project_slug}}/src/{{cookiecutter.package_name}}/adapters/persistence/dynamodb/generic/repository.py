"""generic-repo's async repository: the reads and the writes over one table and one client."""

from __future__ import annotations

from .reads import GenericReads
from .writes import GenericWrites


class AsyncGenericRepository(GenericReads, GenericWrites):
    """generic-repo's methods, async, on any table (the package docstring lists what differs);
    give it the backend's client, or let ``start()`` / ``async with`` open one of its own."""
