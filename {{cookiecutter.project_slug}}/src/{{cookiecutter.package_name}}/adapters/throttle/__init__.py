"""Attempt limiting (``ports/throttle.py``) over the kit's repositories.

- ``limiter``  ``RepositoryAttemptLimiter`` (compare-and-set counters), ``UnlimitedAttempts``
- ``records``  the stored ``ThrottleCounter`` and its registration
"""

from .limiter import (
    RepositoryAttemptLimiter,
    UnlimitedAttempts,
    counter_source,
    next_step,
    retry_after,
)
from .records import THROTTLE_ENTITY, ThrottleCounter, register_throttle_entities, throttle_spec

__all__ = [
    "THROTTLE_ENTITY",
    "RepositoryAttemptLimiter",
    "ThrottleCounter",
    "UnlimitedAttempts",
    "counter_source",
    "next_step",
    "register_throttle_entities",
    "retry_after",
    "throttle_spec",
]
