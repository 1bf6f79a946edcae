"""HTTP load: the service's list and get endpoints against a bare FastAPI app, same JSON.

    PYTHONPATH=src python -m benchmarks.http_load [--concurrency 16] [--requests 4000]
                                                  [--seconds 20] [--items 200] [--quick]

Starts the generated service with uvicorn on a loopback port (memory backend, with the
benchmarks' own feature, ``benchmarks/items.py``; an admin account, and items created through
the API), captures the JSON of ``GET /items`` and ``GET /items/{id}``, then starts a bare
FastAPI app on another port that returns exactly
that JSON on the same paths (no dependencies, no repository, no response model). A concurrent
client (``httpx.AsyncClient``, N workers, bounded by a request count and a time limit) loads
each endpoint on both servers and prints requests/s, p50 and p99 latency, the server process's
CPU per request, and the ratios. Both servers stop by themselves when the run ends.

The client runs in this process on the same machine: on a small machine it competes with the
server for CPU and caps requests/s for both sides alike, so the server CPU per request is the
figure that isolates the service's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from benchmarks.items import BENCH_APP
from benchmarks.service import MEMORY_SERVICE_ENV, Server, uvicorn_server

ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "Bench-Admin-Password-0"  # a throwaway account of a throwaway process
PAYLOAD_ENV = "BENCH_BARE_PAYLOAD"
BARE_APP = "benchmarks.http_load:bare_app"
LIST_PATH = "/items?limit=20"


@dataclass(frozen=True)
class Load:
    concurrency: int = 16
    requests: int = 4_000
    seconds: float = 20.0
    warmup: int = 200
    items: int = 200


QUICK = Load(concurrency=4, requests=20, seconds=2.0, warmup=4, items=5)


@dataclass(frozen=True)
class Result:
    endpoint: str
    server: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- the bare app --------------------------------------------------------------------------


def bare_app() -> FastAPI:
    """The floor: FastAPI routing and JSON encoding of the same bodies, nothing else."""
    payload: dict[str, Any] = json.loads(Path(os.environ[PAYLOAD_ENV]).read_text())
    app = FastAPI()

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/items")
    async def list_items(limit: int = 20) -> Any:
        return payload["list"]

    @app.get("/items/{id}")
    async def get_item(id: str) -> Any:
        return payload["one"]

    return app


# --- seeding through the API ---------------------------------------------------------------


async def seed(base_url: str, items: int) -> list[str]:
    """An admin token and ``items`` items in 10 categories; returns the item ids."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        login = await client.post(
            "/auth/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        ids = []
        for n in range(items):
            body = {
                "name": f"Item {n}",
                "category": f"c{n % 10}",
                "price": f"{n % 50}.99",
                "tags": ["bench", f"t{n % 5}"],
            }
            response = await client.post("/items", json=body)
            response.raise_for_status()
            ids.append(str(response.json()["id"]))
        return ids


# --- the load client -----------------------------------------------------------------------


async def load(
    server: Server, name: str, endpoint: str, paths: Callable[[int], str], spec: Load
) -> Result:
    limits = httpx.Limits(
        max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency
    )
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=10) as client:
        for i in range(spec.warmup):
            (await client.get(paths(i))).raise_for_status()
        latencies: list[float] = []
        issued = 0
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        deadline = started + spec.seconds

        async def worker() -> None:
            nonlocal issued
            while issued < spec.requests and time.perf_counter() < deadline:
                i = issued
                issued += 1
                sent = time.perf_counter()
                response = await client.get(paths(i))
                latencies.append((time.perf_counter() - sent) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{name} {paths(i)}: HTTP {response.status_code}")

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after = server.cpu_seconds()
    cpu = None
    if cpu_before is not None and cpu_after is not None and latencies:
        cpu = (cpu_after - cpu_before) * 1000 / len(latencies)
    return Result(endpoint, name, len(latencies), elapsed, *_percentiles(latencies), cpu)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    if len(samples) < 2:
        value = samples[0] if samples else 0.0
        return value, value
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[98]


# --- the run -------------------------------------------------------------------------------


async def _measure(service: Server, bare: Server, ids: list[str], spec: Load) -> list[Result]:
    endpoints: list[tuple[str, Callable[[int], str]]] = [
        (f"GET {LIST_PATH}", lambda _i: LIST_PATH),
        ("GET /items/{id}", lambda i: f"/items/{ids[i % len(ids)]}"),
    ]
    results = []
    for endpoint, paths in endpoints:
        results.append(await load(service, "service", endpoint, paths, spec))
        results.append(await load(bare, "bare", endpoint, paths, spec))
    return results


def run(spec: Load) -> list[Result]:
    env = {
        **MEMORY_SERVICE_ENV,
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "JWT_SECRET": "bench-only-secret-of-a-throwaway-process",
        # Only the admin's seeding and login hash a password; neither is measured.
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
    }
    with uvicorn_server(BENCH_APP, env) as service:
        ids = asyncio.run(seed(service.base_url, spec.items))
        with httpx.Client(base_url=service.base_url, timeout=10) as client:
            payload = {
                "list": client.get(LIST_PATH).raise_for_status().json(),
                "one": client.get(f"/items/{ids[0]}").raise_for_status().json(),
            }
        with tempfile.TemporaryDirectory(prefix="bench-bare-") as workdir:
            payload_file = Path(workdir) / "payload.json"
            payload_file.write_text(json.dumps(payload))
            with uvicorn_server(BARE_APP, {PAYLOAD_ENV: str(payload_file)}) as bare:
                return asyncio.run(_measure(service, bare, ids, spec))


def print_results(results: Sequence[Result], spec: Load) -> None:
    print(
        f"\nHTTP load on loopback: {spec.concurrency} concurrent clients, up to"
        f" {spec.requests} requests or {spec.seconds:.0f} s per row; memory backend,"
        f" {spec.items} items"
    )
    print(
        f"{'endpoint':<24}{'server':<9}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/req':>12}"
    )
    for r in results:
        cpu = f"{r.cpu_ms_per_request:.3f}" if r.cpu_ms_per_request is not None else "n/a"
        print(
            f"{r.endpoint:<24}{r.server:<9}{r.requests:>9}{r.rps:>9.0f}{r.p50_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{cpu:>12}"
        )
    for service, bare in zip(results[::2], results[1::2], strict=True):
        line = f"{service.endpoint}: service/bare req/s {service.rps / bare.rps:.2f}" + (
            f", p50 x{service.p50_ms / bare.p50_ms:.2f}" if bare.p50_ms else ""
        )
        if service.cpu_ms_per_request and bare.cpu_ms_per_request:
            cpu_ratio = service.cpu_ms_per_request / bare.cpu_ms_per_request
            line += f", server CPU per request x{cpu_ratio:.2f}"
        print(line)


def main(argv: Sequence[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_load", description=__doc__)
    default = Load()
    parser.add_argument("--concurrency", type=int, default=default.concurrency)
    parser.add_argument("--requests", type=int, default=default.requests)
    parser.add_argument("--seconds", type=float, default=default.seconds)
    parser.add_argument("--items", type=int, default=default.items)
    parser.add_argument("--quick", action="store_true", help="a few requests, to prove it runs")
    args = parser.parse_args(argv)
    spec = (
        QUICK
        if args.quick
        else Load(args.concurrency, args.requests, args.seconds, default.warmup, args.items)
    )
    results = run(spec)
    print_results(results, spec)
    return results


if __name__ == "__main__":
    main()
