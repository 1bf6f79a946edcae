"""What the repository limiter stores: one :class:`ThrottleCounter` per key, an entity of the
kit's registry, so the counters live on the service's repository backend (shared by every
worker and replica on the same database) and its tables come from the same metadata as the
others (PostgreSQL: ``migrations/versions/0004_throttle_counters.py``).

``register_throttle_entities`` declares it; ``features/identity.py`` calls it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ...domain.errors import DomainError
from ..persistence.specs import EntityRegistry, EntitySpec

THROTTLE_ENTITY = "throttle_counter"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9:-]{0,63}$")


@dataclass
class ThrottleCounter:
    """The attempts counted on one key. Times are epoch seconds (the limiter's clock).

    ``id`` is the keyed digest of the key (never the username or address itself); ``scope``
    is the key's scope, kept in clear for operations (how many login counters are locked...).
    ``expires_at`` is when the counter stops mattering (a whole window after its window began
    or its lock ended): the backends hide and reclaim it from then on (``ttl_field``).
    """

    id: str
    scope: str
    attempts: int
    window_started: float
    expires_at: float
    locked_until: float = 0.0  # 0: never locked, or the last lock has ended
    lockouts: int = 0  # locks so far while the counter lives: each one doubles the next
    version: int = 0

    def __post_init__(self) -> None:
        if not _DIGEST.match(self.id):
            raise DomainError("a throttle counter's id is a SHA-256 hex digest")
        if not _SCOPE.match(self.scope):
            raise DomainError(f"invalid throttle scope {self.scope!r}")
        if self.attempts < 0 or self.lockouts < 0:
            raise DomainError("attempts and lockouts cannot be negative")
        times = (self.window_started, self.expires_at, self.locked_until)
        if any(not math.isfinite(t) or t < 0 for t in times):
            raise DomainError("a throttle counter's times are finite epoch seconds")
        if self.expires_at < self.window_started:
            raise DomainError("a throttle counter cannot expire before its window starts")


def throttle_spec(suffix: str = "") -> EntitySpec[Any]:
    """The counter's spec; ``suffix`` gives tests a table of their own."""
    return EntitySpec(
        THROTTLE_ENTITY,
        ThrottleCounter,
        f"throttle_counters{suffix}",
        ttl_field="expires_at",
    )


def register_throttle_entities(registry: EntityRegistry, suffix: str = "") -> None:
    registry.register(throttle_spec(suffix))
