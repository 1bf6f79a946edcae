"""One logging setup for the whole process: JSON lines or readable text, a request id on every
line, secrets redacted.

``configure_logging()`` installs one handler on the root logger (replacing the one it installed
before, leaving any other alone), routes uvicorn's loggers through it, and turns uvicorn's access
log off: the service writes its own access line (``adapters/http/request_context.py``), which
knows the route template and the request id.

The request id lives in a context variable (:data:`request_id_var`), set by the request-context
middleware for the duration of a request; a filter on the handler copies it onto every record,
whichever logger wrote it (the service's, a driver's, uvicorn's).

Redaction is the last line of defence, not a licence to log secrets: the service never logs
headers, bodies or query strings, and settings hold secrets as ``SecretStr``. It still scrubs
every line (message, exception text, extra fields) of bearer and basic credentials, JWTs, URL
passwords and ``key=value`` / ``"key": "value"`` pairs whose key names a secret (password,
token, secret, signature, credential, api key, authorization, cookie...), so a careless log call
or a driver's error message does not leak one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import IO, Any

HANDLER_NAME = "service"
REDACTED = "[REDACTED]"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Called on every record before it is formatted (OpenTelemetry adds trace_id and span_id).
record_enrichers: list[Callable[[logging.LogRecord], None]] = []

_SECRET_KEY = (
    r"[\w.-]*(?:passw(?:or)?d|pwd|secret|token|signature|credential|api[_-]?key|"
    r"authorization|cookie|session[_-]?id)[\w.-]*"
)
_SECRET_NAME = re.compile(rf"(?i){_SECRET_KEY}")
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a JWT anywhere (three base64url parts, the first a JSON header)
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), REDACTED),
    # Authorization header values: Bearer <token>, Basic <base64>
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), rf"\1 {REDACTED}"),
    # user:password@ in a URL or DSN
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
)
# key=value, key: value, "key": "value", 'key': 'value' (query strings, forms, JSON, reprs)
_SECRET_PAIR = re.compile(
    rf"(?i)(?<![\w-])({_SECRET_KEY}[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\"'&\s,;}}\]]+)"
)


def _redact_pair(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


# Cheap first look: most lines hold none of what the patterns above look for.
_MAYBE_SECRET = re.compile(
    r"(?i)eyJ|bearer|basic|://|passw|pwd|secret|token|signature|credential|api.?key|"
    r"authorization|cookie|session"
)


def redact(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``[REDACTED]``."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return _SECRET_PAIR.sub(_redact_pair, text)


class ContextFilter(logging.Filter):
    """Put the request id (and what the enrichers add) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        for enrich in record_enrichers:
            enrich(record)
        return True


# Attributes every LogRecord has: anything else on a record is an ``extra=`` field (but
# uvicorn's ``color_message``, the message again with terminal colours).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_NAME.fullmatch(str(key)) else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in _extras(record).items():
            entry.setdefault(key, REDACTED if _SECRET_NAME.fullmatch(key) else _scrub(value))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``12:00:00.123 INFO  [request id] logger: message``, for a developer's terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-5s %(rid)s%(name)s: %(message)s")
        self.datefmt = "%H:%M:%S"

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.__dict__["rid"] = f"[{request_id}] " if request_id else ""
        try:
            return redact(super().format(record))
        finally:
            del record.__dict__["rid"]


def configure_logging(
    *, level: str = "INFO", json_lines: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """Install (or replace) the service's handler on the root logger; return it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.set_name(HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's messages through the same handler; its access log off (ours replaces it)
    for name in ("uvicorn", "uvicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    return handler
