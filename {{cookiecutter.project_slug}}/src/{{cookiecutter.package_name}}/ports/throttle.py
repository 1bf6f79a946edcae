"""Throttling port: how many attempts an account or a client address may make (logins, code
guesses, code requests, sign-ups) before it has to wait.

Semantics every adapter honours (``tests/contract/test_throttle_contract.py`` proves them on
every persistence backend):

- An attempt is *reserved* before the guarded work runs: ``acquire(keys)`` counts one attempt
  on every key, atomically where the counts are stored (shared by every process on the same
  database), so N concurrent attempts on one key give exactly ``max_attempts`` reservations
  and ``TooManyAttempts`` for the rest: no check-then-act gap.
- Each key has a :class:`Scope`, and each scope a :class:`ThrottlePolicy`: ``max_attempts``
  within ``window_seconds``; the next attempt locks the key for ``lock_seconds``, doubled on
  each successive lockout up to ``max_lock_seconds``. Once a lock ends the key gets a new window
  (its lockouts remembered); a whole window without a lock forgets everything.
- ``acquire`` refuses with ``TooManyAttempts(retry_after_seconds)`` (HTTP 429, ``Retry-After``)
  when any key is locked, without counting anything; a key that locks during the call refuses
  it too. Keys are checked in the order given, so put the one a refusal must not cost first.
- ``reset(key)`` forgets a key, lock and lockouts included (a good login resets its account's
  counter); ``release(key)`` gives back the attempt a success reserved (a good login from an
  address), so that counter counts failures only; it never lifts a lock.
- Counters never hold the raw username or address (adapters store a keyed digest), and a key
  for an unknown account counts exactly like one for a real account: a 429 says nothing about
  whether the account exists.

Pure Python: no framework or driver imports here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

MAX_LOCK_DOUBLINGS = 40  # 2**40 times any sane lock is past any sane cap: no float overflow


class Scope(StrEnum):
    """What a key counts; each scope has its own policy."""

    LOGIN_ACCOUNT = "login:account"  # password attempts on one username
    LOGIN_ADDRESS = "login:address"  # password attempts from one client address
    CODE_ACCOUNT = "code:account"  # confirmation and reset code guesses on one username
    CODE_ADDRESS = "code:address"  # code guesses from one client address
    CODE_REQUEST_ACCOUNT = "code-request:account"  # reset codes sent for one username
    CODE_REQUEST_ADDRESS = "code-request:address"  # reset codes requested from one address
    REGISTER_ADDRESS = "register:address"  # sign-ups from one client address


@dataclass(frozen=True, slots=True)
class AttemptKey:
    """One counter: a scope and whose attempts it counts (a username or a client address,
    compared case-insensitively and without surrounding blanks)."""

    scope: Scope
    subject: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", self.subject.strip().casefold())

    def __str__(self) -> str:
        return f"{self.scope.value}:{self.subject}"


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """``max_attempts`` per ``window_seconds``; then a lock of ``lock_seconds``, doubled on each
    successive lockout, never longer than ``max_lock_seconds``."""

    max_attempts: int
    window_seconds: float
    lock_seconds: float
    max_lock_seconds: float

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.window_seconds <= 0 or self.lock_seconds <= 0:
            raise ValueError("window_seconds and lock_seconds must be positive")
        if self.max_lock_seconds < self.lock_seconds:
            raise ValueError("max_lock_seconds cannot be shorter than lock_seconds")

    def lock_for(self, lockouts: int) -> float:
        """The lock after ``lockouts`` earlier lockouts (0 for the first)."""
        doublings = min(max(lockouts, 0), MAX_LOCK_DOUBLINGS)
        return min(self.max_lock_seconds, self.lock_seconds * (1 << doublings))


class AttemptLimiter(Protocol):
    """Counts attempts per key and refuses them past the key's policy (see the module doc)."""

    async def acquire(self, keys: Sequence[AttemptKey]) -> None:
        """Reserve one attempt on every key (duplicates once), or raise ``TooManyAttempts``
        when one is locked or locks now (a key counted before it keeps its count)."""
        ...

    async def release(self, key: AttemptKey) -> None:
        """Give back one reserved attempt (after a success that must not count)."""
        ...

    async def reset(self, key: AttemptKey) -> None:
        """Forget the key: its attempts, its lock and its lockouts."""
        ...
