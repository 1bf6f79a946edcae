"""Every request's id, its access line, and the log of an error nothing else handled.

``RequestContext`` is the outermost of the service's middlewares. For each HTTP request it

- takes the caller's ``X-Request-ID`` when it is well formed (1 to 128 characters of
  ``A-Z a-z 0-9 . _ : + / = -``), else generates one (32 hex characters), and returns it in the
  ``X-Request-ID`` response header of every answer, errors and time-outs included;
- keeps it in :data:`request_id_var` while the request runs, so every log line written meanwhile
  carries it (``adapters/observability/logging.py``);
- writes one access line when the request ends: method, route template (``/books/{id}``, or the
  path when no route matched), status and duration. Never the query string, headers or body;
- logs an exception nothing handled, with its traceback and the request id, and answers it 500
  ``internal_error`` (the body says which request id to quote) instead of letting it reach the
  server, which would log it a second time without the id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..observability.logging import request_id_var
from .errors import error_body

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(f"{__name__.split('.')[0]}.access")


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's ``X-Request-ID``, if it is well formed."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            text = value.decode("latin-1")
            return text if _WELL_FORMED.fullmatch(text) else None
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The route template that served the request, else its path (no query string)."""
    template = getattr(scope.get("route"), "path_format", None)
    return f"{scope.get('root_path', '')}{template}" if template else str(scope["path"])


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        on_request_id: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.on_request_id = on_request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or new_request_id()
        token = request_id_var.set(request_id)
        if self.on_request_id is not None:
            self.on_request_id(request_id)
        started_at = time.perf_counter()
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                answered = True
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER_KEY
                ]
                headers.append((_HEADER_KEY, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if not answered:
                status = 499  # the client went away (or the server is stopping) first
            raise
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], route_of(scope))
            if answered:  # the answer is half sent: only the server can end it
                raise
            body = error_body(
                "internal_error", "the service failed to answer", request_id=request_id
            )
            await JSONResponse(body, 500)(scope, receive, send_with_id)
        finally:
            try:
                if self.access_log:
                    self._access_line(scope, status, time.perf_counter() - started_at)
            finally:
                request_id_var.reset(token)

    def _access_line(self, scope: Scope, status: int, seconds: float) -> None:
        method, route = scope["method"], route_of(scope)
        duration_ms = round(seconds * 1000, 1)
        access_logger.info(
            "%s %s %s %.1fms",
            method,
            route,
            status,
            duration_ms,
            extra={"method": method, "route": route, "status": status, "duration_ms": duration_ms},
        )


def install_request_context(
    app: FastAPI, *, access_log: bool, on_request_id: Callable[[str], None] | None = None
) -> None:
    """Add it last, so that it is the outermost of the service's middlewares."""
    app.add_middleware(RequestContext, access_log=access_log, on_request_id=on_request_id)
