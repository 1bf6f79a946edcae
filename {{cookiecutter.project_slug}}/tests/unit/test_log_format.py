"""The log formatters and the redaction they apply (adapters/observability/logging.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from {{cookiecutter.package_name}}.adapters.observability.logging import (
    REDACTED,
    configure_logging,
    redact,
    request_id_var,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    configure_logging()  # back to stdout, text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("Authorization: Bearer opaque-token_123", "opaque-token_123"),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (f"token {JWT} refused", JWT),
        ('{"username": "bob", "password": "correct horse battery"}', "correct horse"),
        ("{'admin_password': 's3cr3t!', 'n': 1}", "s3cr3t!"),
        ("GET /o?expires=1&signature=abcdef0123&x=1", "abcdef0123"),
        ("X-Amz-Signature=ff00ff&X-Amz-Credential=AKIA%2F20240101", "AKIA%2F20240101"),
        ("X-Amz-Security-Token=IQoJb3JpZ2luX2Vj", "IQoJb3JpZ2luX2Vj"),
        ("?access_token=abc.def&refresh_token=ghi", "ghi"),
        ("client_secret=topsecret", "topsecret"),
        ("api_key: k-123", "k-123"),
        ("Cookie: session=abc123", "abc123"),
        ("postgresql+asyncpg://svc:p%40ss@db:5432/app", "p%40ss"),
        ("mongodb://user:pw123@host1,host2/db", "pw123"),
    ],
)
def test_redact_removes_credentials(text: str, secret: str) -> None:
    redacted = redact(text)

    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "GET /books/{id} 200 3.2ms",
        "refresh token replay for 'bob': session revoked",
        "JWT_SECRET is a placeholder; set a real secret in production",
        "started: repository=postgres storage=local identity=memory",
        "postgresql+asyncpg://svc@db:5432/app",
    ],
)
def test_redact_leaves_ordinary_lines_alone(text: str) -> None:
    assert redact(text) == text


def test_json_lines_carry_the_request_id_extras_and_a_redacted_traceback(
    stream: io.StringIO,
) -> None:
    configure_logging(level="INFO", json_lines=True, stream=stream)
    log = logging.getLogger("test.json")
    token = request_id_var.set("rid-1")
    try:
        log.info("hello %s", "world", extra={"route": "/x", "status": 201, "password": "pw"})
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            log.exception("failed")
    finally:
        request_id_var.reset(token)
    log.debug("below the level")
    log.warning("outside a request")

    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world"
    assert first["level"] == "INFO"
    assert first["logger"] == "test.json"
    assert first["request_id"] == "rid-1"
    assert (first["route"], first["status"], first["password"]) == ("/x", 201, REDACTED)
    assert first["timestamp"].endswith("+00:00")
    assert "ValueError" in second["exception"]
    assert JWT not in second["exception"]
    assert "request_id" not in third


def test_text_lines_are_readable(stream: io.StringIO) -> None:
    configure_logging(level="INFO", json_lines=False, stream=stream)
    token = request_id_var.set("rid-2")
    try:
        logging.getLogger("test.text").warning("signature=%s", "abc")
    finally:
        request_id_var.reset(token)

    (line,) = stream.getvalue().splitlines()
    assert line.endswith(" WARNING [rid-2] test.text: signature=[REDACTED]")


def test_configure_logging_replaces_only_its_own_handler(stream: io.StringIO) -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        configure_logging(stream=stream)
        configure_logging(stream=stream)
        names = [handler.get_name() for handler in root.handlers]
        assert names.count("service") == 1
        assert other in root.handlers
    finally:
        root.removeHandler(other)
