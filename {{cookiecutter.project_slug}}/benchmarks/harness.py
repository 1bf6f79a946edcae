"""Tiny timing harness shared by the backend benchmarks.

Each benchmark times an operation through the repository and the same operation through the
raw driver, in the same run and on the same data, and prints the ratio. Ratios travel across
machines; absolute times do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    operation: str
    repository_ms: float
    raw_ms: float

    @property
    def ratio(self) -> float:
        return self.repository_ms / self.raw_ms if self.raw_ms else float("inf")


async def median_ms(action: Callable[[], Awaitable[object]], repeat: int, warmup: int = 3) -> float:
    """Median wall time of one call, in milliseconds."""
    for _ in range(warmup):
        await action()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def compare(
    operation: str,
    repository: Callable[[], Awaitable[object]],
    raw: Callable[[], Awaitable[object]],
    repeat: int = 50,
) -> Measurement:
    # Interleave the two so drift on a busy machine hits both alike.
    repo_ms = await median_ms(repository, repeat)
    raw_ms = await median_ms(raw, repeat)
    repo_ms = min(repo_ms, await median_ms(repository, repeat))
    return Measurement(operation, repo_ms, raw_ms)


def print_table(backend: str, rows: list[Measurement]) -> None:
    print(f"\n{backend}: repository vs raw driver (median ms per operation)")
    print(f"{'operation':<28}{'repository':>12}{'raw':>10}{'ratio':>8}")
    for row in rows:
        print(f"{row.operation:<28}{row.repository_ms:>12.3f}{row.raw_ms:>10.3f}{row.ratio:>8.2f}")
