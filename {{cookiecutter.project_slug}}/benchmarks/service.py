"""Run the generated service (or another ASGI app) with uvicorn in a child process, on loopback.

Shared by ``http_load`` and ``startup``. The child gets a fresh temporary directory as its
working directory (no ``.env`` from the project is read, local storage stays out of the tree)
and is always stopped by the context manager: terminate, then kill after a grace period.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

import {{cookiecutter.package_name}}

LOOPBACK = "127.0.0.1"
PACKAGE = {{cookiecutter.package_name}}.__name__
SRC = Path({{cookiecutter.package_name}}.__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parents[1]  # the project: ``benchmarks`` is importable from it

SERVICE_APP = f"{PACKAGE}.main:create_app"

# The service on the memory backend with nothing else to reach.
MEMORY_SERVICE_ENV = {
    "ENVIRONMENT": "local",
    "REPO_DATABASE": "memory",
    "STORAGE_BACKEND": "local",
    "IDENTITY_BACKEND": "memory",
    "ACCESS_LOG": "false",  # the access line costs ~35 us a request: not what is measured
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    started_at: float  # perf_counter just before the process was spawned
    ready_after: float = 0.0  # seconds from spawn to the first 200 from the ready path

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server process has used so far (Linux ``/proc``), or None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


@contextmanager
def uvicorn_server(
    app: str,
    env: Mapping[str, str],
    *,
    ready_path: str = "/health/ready",
    timeout: float = 120.0,  # a start-up slower than this is broken, not busy
    poll_interval: float = 0.005,
) -> Iterator[Server]:
    """``uvicorn APP --factory`` on a free loopback port; yields once ``ready_path`` says 200."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as workdir:
        child_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)]),
            "LOCAL_STORAGE_DIR": str(Path(workdir) / "storage"),
            **env,
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=child_env, cwd=workdir)
        server = Server(process, f"http://{LOOPBACK}:{port}", started)
        try:
            server.ready_after = _wait_ready(server, ready_path, timeout, poll_interval)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_ready(server: Server, path: str, timeout: float, interval: float) -> float:
    deadline = server.started_at + timeout
    with httpx.Client(base_url=server.base_url, timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the server exited with {server.process.returncode}")
            try:
                if client.get(path).status_code == 200:
                    return time.perf_counter() - server.started_at
            except httpx.TransportError:
                pass
            time.sleep(interval)
    raise RuntimeError(f"{server.base_url}{path} did not answer 200 within {timeout}s")
