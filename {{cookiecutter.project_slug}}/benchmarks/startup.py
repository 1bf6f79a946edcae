"""Start-up: import time of the service's modules and time to a ready answer.

    PYTHONPATH=src python -m benchmarks.startup [--runs 5] [--top 15] [--quick]
                                                [--env REPO_DATABASE=postgres ...]

1. ``python -X importtime -c "import <package>.main"`` in a fresh interpreter: the total, the
   top-level packages that cost the most (summed self time of their modules), and the
   slowest single modules.
2. In a fresh interpreter without import tracing: ``import <package>.main``, then
   ``create_app()`` (settings, container, routers), each timed (``--quick`` reuses the
   interpreter of step 1).
3. ``uvicorn <package>.main:create_app --factory`` in a child process: wall time from spawning
   the process to the first 200 from ``/health/ready`` (polled every 5 ms), median of
   ``--runs`` starts. ``python -c pass`` is timed too, as the interpreter's own floor.

The service runs on the memory backend unless ``--env`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from benchmarks.service import MEMORY_SERVICE_ENV, PACKAGE, ROOT, SERVICE_APP, SRC, uvicorn_server


@dataclass
class ImportReport:
    total_ms: float
    packages: list[tuple[str, float]]  # top-level package, summed self ms
    modules: list[tuple[str, float, float]]  # module, self ms, cumulative ms


@dataclass
class StartupReport:
    imports: ImportReport
    import_main_ms: float
    create_app_ms: float
    interpreter_ms: float
    ready_ms: list[float] = field(default_factory=list)


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)]),
        **MEMORY_SERVICE_ENV,
        **(extra or {}),
    }


def parse_importtime(stderr: str, module: str, top: int) -> ImportReport:
    """Read ``-X importtime`` lines: ``import time: <self us> | <cumulative us> | <name>``."""
    rows: list[tuple[str, float, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append((name.strip(), int(self_us) / 1000, int(cumulative_us) / 1000))
    by_package: dict[str, float] = defaultdict(float)
    for name, self_ms, _ in rows:
        by_package[name.split(".")[0]] += self_ms
    total = next((cumulative for name, _, cumulative in rows if name == module), 0.0)
    if not total:
        total = sum(self_ms for _, self_ms, _ in rows)
    packages = sorted(by_package.items(), key=lambda item: -item[1])[:top]
    modules = sorted(rows, key=lambda row: -row[1])[:top]
    return ImportReport(total, packages, modules)


def measure_imports(top: int, env: Mapping[str, str]) -> ImportReport:
    module = f"{PACKAGE}.main"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_env(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return parse_importtime(done.stderr, module, top)


def measure_all_at_once(top: int, env: Mapping[str, str]) -> tuple[ImportReport, float, float]:
    """Imports and ``create_app()`` in one ``-X importtime`` interpreter (``--quick``): one
    process fewer, timings inflated by the import tracing."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _TIMED.replace("PACKAGE", PACKAGE)],
        env=_env(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    imports = parse_importtime(done.stderr, f"{PACKAGE}.main", top)
    return imports, float(timings["imported"]), float(timings["created"])


_TIMED = """
import json, time
start = time.perf_counter()
import PACKAGE.main as main
imported = time.perf_counter()
main.create_app()
created = time.perf_counter()
print(json.dumps(dict(imported=(imported - start) * 1000, created=(created - imported) * 1000)))
"""


def measure_create_app(env: Mapping[str, str]) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.replace("PACKAGE", PACKAGE)],
        env=_env(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    return float(timings["imported"]), float(timings["created"])


def measure_interpreter() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
    return (time.perf_counter() - started) * 1000


def run(runs: int, top: int, env: Mapping[str, str], quick: bool = False) -> StartupReport:
    if quick:
        imports, import_ms, create_ms = measure_all_at_once(top, env)
    else:
        imports = measure_imports(top, env)
        import_ms, create_ms = measure_create_app(env)
    report = StartupReport(imports, import_ms, create_ms, measure_interpreter())
    for _ in range(runs):
        with uvicorn_server(SERVICE_APP, {**MEMORY_SERVICE_ENV, **env}) as server:
            report.ready_ms.append(server.ready_after * 1000)
    return report


def print_report(report: StartupReport, env: Mapping[str, str]) -> None:
    settings = {**MEMORY_SERVICE_ENV, **env}
    backends = ", ".join(f"{k}={v}" for k, v in settings.items() if k != "ENVIRONMENT")
    imports = report.imports
    print(f"\nstart-up of {PACKAGE} ({backends})")
    print(f"import {PACKAGE}.main (-X importtime, cumulative): {imports.total_ms:.0f} ms")
    print(f"{'top-level package':<28}{'self ms':>10}")
    for name, ms in imports.packages:
        print(f"{name:<28}{ms:>10.1f}")
    print(f"{'slowest modules':<52}{'self ms':>10}{'cumul. ms':>11}")
    for name, self_ms, cumulative in imports.modules:
        print(f"{name:<52}{self_ms:>10.1f}{cumulative:>11.1f}")
    print(f"interpreter alone (python -c pass):     {report.interpreter_ms:8.0f} ms")
    print(f"import {PACKAGE}.main (timed):          {report.import_main_ms:8.0f} ms")
    print(f"create_app() (settings, container, routes): {report.create_app_ms:5.0f} ms")
    if report.ready_ms:
        ready = ", ".join(f"{ms:.0f}" for ms in report.ready_ms)
        print(
            f"process spawn -> /health/ready 200: median {statistics.median(report.ready_ms):.0f}"
            f" ms over {len(report.ready_ms)} starts ({ready})"
        )


def main(argv: Sequence[str] | None = None) -> StartupReport:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="service starts to time")
    parser.add_argument("--top", type=int, default=15, help="rows of the import tables")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the service")
    parser.add_argument("--quick", action="store_true", help="one start, short tables")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    report = run(1, 5, env, quick=True) if args.quick else run(args.runs, args.top, env)
    print_report(report, env)
    return report


if __name__ == "__main__":
    main()
