"""Request limits, as two small ASGI middlewares: body size and time.

``BodySizeLimit`` answers 413 ``payload_too_large`` to a body larger than ``max_bytes``: at once
when ``Content-Length`` says so (nothing of the body is read), else as soon as the bytes received
pass the limit (the route never sees a truncated body). Paths under ``exempt_prefixes`` keep their
own limit (the local storage upload route streams up to ``STORAGE_MAX_UPLOAD_BYTES``).

``RequestTimeout`` gives every request ``seconds`` to start its answer. Past it the caller gets
503 ``backend_unavailable`` with ``Retry-After`` at once, like any other outage, and the work is
cancelled (the driver calls in flight with it; their clean-up finishes in the background), so a
hung backend never hangs a request. The clock restarts on each chunk of a request body still
arriving, and stops once the answer has started (a long download is not a hang).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import RETRY_AFTER_SECONDS, error_body

logger = logging.getLogger(__name__)


def _too_large(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes"


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt_prefixes: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = tuple(exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            body = error_body("payload_too_large", _too_large(self.max_bytes))
            await JSONResponse(body, 413, headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI lets an HTTPException raised while reading the body through to
                    # the error handlers: the caller gets 413 with the usual error body.
                    raise HTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class RequestTimeout:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._abandoned: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started = timed_out = False
        deadline_at = loop.time() + self.seconds
        deadline: asyncio.Timeout | None = None

        def reschedule(when: float | None) -> None:
            if deadline is not None and not deadline.expired():
                with contextlib.suppress(RuntimeError):  # the deadline is being left
                    deadline.reschedule(when)

        async def timed_receive() -> Message:
            nonlocal deadline_at
            message = await receive()
            if message["type"] == "http.request" and not started:
                deadline_at = loop.time() + self.seconds
                reschedule(deadline_at)
            return message

        async def timed_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the caller already has its 503
            if message["type"] == "http.response.start" and not started:
                started = True
                reschedule(None)
            await send(message)

        # The work runs in a task of its own, so that on time-out the answer does not wait for
        # its clean-up (a driver may spend seconds closing a connection that no longer answers).
        # The task starts eagerly: it runs at once up to its first wait, so a request that never
        # waits (the memory backend) is answered without a trip through the event loop, and only
        # one that does wait sets the timer.
        async def answer() -> None:
            await self.app(scope, timed_receive, timed_send)

        work = asyncio.eager_task_factory(loop, answer())
        try:
            if work.done():
                work.result()
            else:
                async with asyncio.timeout_at(None if started else deadline_at) as deadline:
                    await asyncio.shield(work)
        except TimeoutError:
            if started:  # the answer is on its way: let it finish, whatever happens
                await work
                return
            if not work.done():
                timed_out = True
                work.cancel()
                self._abandoned.add(work)
                work.add_done_callback(self._forget)
            # else the app itself gave up waiting on something (a TimeoutError): same answer
        except asyncio.CancelledError:
            work.cancel()  # the server gave up on this request (client gone, shutdown)
            raise
        else:
            return
        logger.warning(
            "request timed out after %ss: %s %s", self.seconds, scope["method"], scope["path"]
        )
        body = error_body(
            "backend_unavailable", f"the request did not complete within {self.seconds:g}s"
        )
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        await JSONResponse(body, 503, headers=headers)(scope, receive, send)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("timed-out request ended with %r", task.exception())


def install_limits(
    app: FastAPI,
    *,
    max_body_bytes: int,
    timeout_seconds: float,
    body_limit_exempt: Sequence[str] = (),
) -> None:
    """Add both middlewares (the timeout outermost, so it also bounds the size check)."""
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, exempt_prefixes=body_limit_exempt)
    app.add_middleware(RequestTimeout, seconds=timeout_seconds)
