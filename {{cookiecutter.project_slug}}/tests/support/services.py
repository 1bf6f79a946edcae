"""Real backing services for tests: found or started here, never mocked.

A backend that cannot be reached is a SKIP with its reason on a developer's machine and a
FAILURE when ``CI=true``: CI must prove every adapter against a real server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

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
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
