"""Every backend's repository against its raw driver, in one run, printed as one table.

    PYTHONPATH=src python -m benchmarks.run [--backends memory,postgres,mongo,dynamodb] [--quick]

Operations: get by id, create, a filtered page of 20, a populated-view page of 50 (widget ->
owner -> team) and add_many of 1000, each timed through the repository and through the raw
driver on the same data. A backend whose server cannot be reached is reported as skipped.
``--quick`` shrinks the data and the samples to prove the benchmark still runs (figures from
it mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import platform
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from benchmarks.harness import Report, print_reports

BACKENDS = ("memory", "postgres", "mongo", "dynamodb")


def _runner(backend: str) -> Callable[[bool], Awaitable[Report]] | None:
    """The backend's ``run(quick)``; imported lazily so one backend needs no other driver."""
    try:
        module = importlib.import_module(f"benchmarks.bench_{backend}")
    except ModuleNotFoundError as exc:
        if exc.name == f"benchmarks.bench_{backend}":
            return None
        raise
    return cast(Callable[[bool], Awaitable[Report]], module.run)


async def run_all(backends: Sequence[str], quick: bool) -> list[Report]:
    reports = []
    for backend in backends:
        runner = _runner(backend)
        if runner is None:
            reports.append(Report(backend, skipped="no benchmark module"))
            continue
        started = time.perf_counter()
        try:
            report = await runner(quick)
        except Exception as exc:  # one backend's failure must not hide the others' figures
            report = Report(backend, skipped=f"failed: {type(exc).__name__}: {exc}")
        report.notes.append(f"run took {time.perf_counter() - started:.1f} s")
        reports.append(report)
    return reports


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated, from {', '.join(BACKENDS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny data, few samples")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> list[Report]:
    args = parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, quick={args.quick}")
    reports = asyncio.run(run_all(args.backends, args.quick))
    print_reports(reports)
    return reports


if __name__ == "__main__":
    main()
