"""Real backing services for tests: found or started here, never mocked.

A backend that cannot be reached is a SKIP with its reason on a developer's machine and a
FAILURE when ``CI=true``: CI must prove every adapter against a real server.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(backend: str, reason: str) -> None:
    """Skip locally, fail in CI. Never returns."""
    message = f"{backend} is unreachable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true requires every backend)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Serialized:
    """A WSGI app run one request at a time.

    moto's backends are not thread-safe: its DynamoDB TransactWriteItems checks conditions and
    then writes without a lock, so two racing transactions can both commit, which AWS never
    allows. Serialising requests makes moto as linearizable as the real services, so the
    concurrency cases of the contract suites test the adapters, not moto's races.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


def _one_request_at_a_time(server: Any) -> None:
    wsgi = getattr(server, "_server", None)  # werkzeug's server inside ThreadedMotoServer
    if wsgi is not None and hasattr(wsgi, "app"):
        wsgi.app = _Serialized(wsgi.app)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server (DynamoDB, S3, Cognito) on a free loopback port; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        unavailable("moto server", f"moto[server] is not installed ({exc})")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    _one_request_at_a_time(server)
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
