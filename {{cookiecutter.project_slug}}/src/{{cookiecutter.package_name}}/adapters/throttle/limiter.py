"""``AttemptLimiter`` over the kit's repositories: counters on the service's own backend.

Every change to a counter is a compare-and-set: read it, compute the next state, write it
with ``update_fields(expected_version=<the version read>)`` (or ``add`` when there is none);
when another writer got in first (``ConcurrencyConflict``, ``AlreadyExists``, or ``NotFound``
after a reset) read again and recompute. The backend's optimistic versioning (PostgreSQL:
``SELECT ... FOR UPDATE`` in one transaction; MongoDB and DynamoDB: a write conditioned on the
version; memory: under the backend's lock) makes each reservation atomic, across processes too.
A refusal on a counter that is already locked writes nothing.

A counter's life (policy ``p``, clock ``now``):

- no counter, or ``now >= expires_at``: a new window from ``now``, lockouts forgotten;
- ``now < locked_until``: refused, ``Retry-After`` = the rest of the lock;
- a lock that has ended: a new window from ``now``, lockouts remembered;
- ``attempts < p.max_attempts``: one more attempt, accepted;
- otherwise: locked for ``p.lock_for(lockouts)`` (doubling), refused, ``lockouts + 1``.

``expires_at`` is a window after the window began (or after the lock ends), so a whole window
without a lock forgets the counter; it is also the entity's ``ttl_field``, so every backend
hides the stale counter and DynamoDB/MongoDB delete it (PostgreSQL: ``purge_expired()``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ...ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyConflict,
    NotFound,
    TooManyAttempts,
)
from ...ports.repository import Repository
from ...ports.throttle import AttemptKey, Scope, ThrottlePolicy
from ..persistence.memory.backend import MemoryBackend
from ..persistence.registry import EntityRegistry, RepositoryProvider
from .records import THROTTLE_ENTITY, ThrottleCounter, register_throttle_entities

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Each lost round means another writer moved the counter on; after max_attempts of them it is
# locked and refusals write nothing, so a reservation needs few rounds. This bounds a bug.
MAX_ROUNDS = 1000


class CounterSource(Protocol):
    """Where the counters' repository comes from (the service's ``RepositoryProvider``)."""

    def of(self, entity: type[T]) -> Repository[T]: ...


def counter_source(repositories: RepositoryProvider, *, allow_private: bool) -> CounterSource:
    """``repositories`` when its registry holds the counters (``register_throttle_entities``),
    so every process on its database shares them. Otherwise (an app built on features of its
    own) a memory store of this process when ``allow_private``, else ``ValueError``."""
    if THROTTLE_ENTITY in repositories.registry:
        return repositories
    if not allow_private:
        raise ValueError(
            "the /auth throttle's counters are not registered: include features.identity's "
            "IDENTITY in the features (or call register_throttle_entities), or set "
            "THROTTLE_ENABLED=false"
        )
    logger.warning(
        "throttle counters are not registered: counting in this process only "
        "(every worker and replica counts on its own)"
    )
    registry = EntityRegistry()
    register_throttle_entities(registry)
    backend = MemoryBackend()
    return RepositoryProvider(registry, {backend.name: lambda: backend}, backend.name)


@dataclass(frozen=True, slots=True)
class _Step:
    changes: dict[str, Any] = field(default_factory=dict)
    refused_for: float | None = None  # seconds to wait when the attempt is refused


def retry_after(seconds: float) -> int:
    """Whole seconds, rounded up, at least 1 (``Retry-After`` is an integer)."""
    return max(1, math.ceil(seconds - 1e-9))


def next_step(counter: ThrottleCounter, policy: ThrottlePolicy, now: float) -> _Step:
    """What one more attempt does to a stored counter (pure: the module doc's rules)."""
    if counter.locked_until > now:
        return _Step(refused_for=counter.locked_until - now)
    lockouts = counter.lockouts
    if now >= counter.expires_at:
        attempts, window_started, lockouts = 0, now, 0
    elif counter.locked_until:  # the lock has ended: a new window, the lockouts remembered
        attempts, window_started = 0, now
    else:
        attempts, window_started = counter.attempts, counter.window_started
    if attempts < policy.max_attempts:
        return _Step(
            {
                "attempts": attempts + 1,
                "window_started": window_started,
                "expires_at": window_started + policy.window_seconds,
                "locked_until": 0.0,
                "lockouts": lockouts,
            }
        )
    lock = policy.lock_for(lockouts)
    return _Step(
        {
            "attempts": attempts,
            "window_started": window_started,
            "locked_until": now + lock,
            "expires_at": now + lock + policy.window_seconds,
            "lockouts": lockouts + 1,
        },
        refused_for=lock,
    )


class RepositoryAttemptLimiter:
    """Attempt counters stored as :class:`ThrottleCounter` entities (see the module doc).

    ``policies`` gives each scope its policy (a key of a scope without one is a programming
    error: ``KeyError``). ``key_secret`` keys the digest that names a counter, so a stored
    counter cannot be traced back to a username or an address by hashing guesses; every process
    sharing the counters must use the same one. ``clock`` gives epoch seconds (tests pass a
    fake one; keep it at or after the real time, since the backends expire counters by it).
    """

    def __init__(
        self,
        repositories: CounterSource,
        policies: Mapping[Scope, ThrottlePolicy],
        *,
        key_secret: str | bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repositories = repositories
        self._policies = dict(policies)
        secret = key_secret.encode() if isinstance(key_secret, str) else key_secret
        # A key of its own, derived: the same secret may sign other things (page cursors).
        self._key = hmac.new(secret, b"throttle-counter-id", hashlib.sha256).digest()
        self._clock = clock

    @property
    def _repo(self) -> Repository[ThrottleCounter]:
        return self._repositories.of(ThrottleCounter)

    def counter_id(self, key: AttemptKey) -> str:
        """The id of ``key``'s counter: an HMAC-SHA-256 of the key, in hex."""
        return hmac.new(self._key, str(key).encode(), hashlib.sha256).hexdigest()

    def policy(self, key: AttemptKey) -> ThrottlePolicy:
        return self._policies[key.scope]

    async def acquire(self, keys: Sequence[AttemptKey]) -> None:
        unique = list(dict.fromkeys(keys))
        for key in unique:
            self.policy(key)  # an unknown scope fails before anything is counted
        # Every lock first, so a request refused by one key costs the others nothing.
        stored = [await self._repo.get(self.counter_id(key)) for key in unique]
        now = self._clock()
        locks = [c.locked_until - now for c in stored if c is not None and c.locked_until > now]
        if locks:
            raise TooManyAttempts(retry_after(max(locks)))
        for key, counter in zip(unique, stored, strict=True):
            await self._reserve(key, counter)

    async def _reserve(self, key: AttemptKey, counter: ThrottleCounter | None) -> None:
        policy, counter_id = self.policy(key), self.counter_id(key)
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            try:
                if counter is None:
                    await self._repo.add(
                        ThrottleCounter(
                            id=counter_id,
                            scope=key.scope.value,
                            attempts=1,
                            window_started=now,
                            expires_at=now + policy.window_seconds,
                        )
                    )
                    return
                step = next_step(counter, policy, now)
                if step.changes:
                    await self._repo.update_fields(
                        counter_id, step.changes, expected_version=counter.version
                    )
            except (AlreadyExists, ConcurrencyConflict, NotFound):
                counter = await self._repo.get(counter_id)  # someone else moved it: again
                continue
            if step.refused_for is not None:
                raise TooManyAttempts(retry_after(step.refused_for))
            return
        raise BackendUnavailable("throttle counters", "too much contention on one counter")

    async def release(self, key: AttemptKey) -> None:
        counter_id = self.counter_id(key)
        for _ in range(MAX_ROUNDS):
            counter = await self._repo.get(counter_id)
            if counter is None or counter.attempts == 0 or self._clock() >= counter.expires_at:
                return
            try:
                await self._repo.update_fields(
                    counter_id, {"attempts": counter.attempts - 1}, expected_version=counter.version
                )
                return
            except (ConcurrencyConflict, NotFound):
                continue
        raise BackendUnavailable("throttle counters", "too much contention on one counter")

    async def reset(self, key: AttemptKey) -> None:
        with contextlib.suppress(NotFound):  # nothing to forget
            await self._repo.delete(self.counter_id(key))


class UnlimitedAttempts:
    """The limiter of ``THROTTLE_ENABLED=false``: every attempt is accepted, nothing stored."""

    async def acquire(self, keys: Sequence[AttemptKey]) -> None:
        return None

    async def release(self, key: AttemptKey) -> None:
        return None

    async def reset(self, key: AttemptKey) -> None:
        return None
