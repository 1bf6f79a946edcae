"""What the throttle tests share: a clock they move by hand, policies small enough to reach."""

from __future__ import annotations

import time
from collections.abc import Mapping

from {{cookiecutter.package_name}}.ports.throttle import Scope, ThrottlePolicy

KEY_SECRET = "throttle-test-secret-" + "k" * 24
MAX_ATTEMPTS = 5
WINDOW = 900
LOCK = 60
MAX_LOCK = 300


class FakeClock:
    """Epoch seconds that move only when told to. Starts at the real time: the backends expire
    counters (``ttl_field``) by their own clock, so a counter's times must not lie in the past."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def policy(max_attempts: int = MAX_ATTEMPTS) -> ThrottlePolicy:
    return ThrottlePolicy(max_attempts, WINDOW, LOCK, MAX_LOCK)


def policies(**maxima: int) -> Mapping[Scope, ThrottlePolicy]:
    """Every scope at ``MAX_ATTEMPTS``, except those given by name (``login_address=50``)."""
    return {scope: policy(maxima.get(scope.name.lower(), MAX_ATTEMPTS)) for scope in Scope}
