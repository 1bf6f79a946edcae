"""Liveness (the process answers) and readiness (every selected backend answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ....ports.errors import KitError
from ..errors import RETRY_AFTER_SECONDS

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT_SECONDS = 2.0


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str  # "ready" or "unavailable"
    checks: dict[str, str]  # check name -> "ok" or why it failed


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Readiness,
        "description": "A backend does not answer; `checks` says which. Retry after "
        "`Retry-After` seconds.",
        "headers": {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        },
    }
}


async def _run_check(check: ReadinessCheck, seconds: float) -> str | None:
    try:
        async with asyncio.timeout(seconds):
            await check()
    except TimeoutError:
        return f"no answer within {seconds:g}s"
    except KitError as exc:
        return exc.message
    return None


def build_health_router() -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> Liveness:
        return Liveness(status="ok")

    @router.get("/ready", response_model=Readiness, responses=NOT_READY)
    async def ready(request: Request) -> Any:
        checks = cast(
            Mapping[str, ReadinessCheck], getattr(request.app.state, "readiness_checks", {})
        )
        names = list(checks)
        # Within the request timeout, so the answer is this body, not the middleware's 503.
        settings = getattr(request.app.state, "settings", None)
        limit = getattr(settings, "request_timeout_seconds", None)
        timeout = min(CHECK_TIMEOUT_SECONDS, limit / 2) if limit else CHECK_TIMEOUT_SECONDS
        results = await asyncio.gather(*(_run_check(checks[name], timeout) for name in names))
        failures = {name: reason for name, reason in zip(names, results, strict=True) if reason}
        body = {
            "status": "unavailable" if failures else "ready",
            "checks": {name: failures.get(name, "ok") for name in names},
        }
        if failures:
            return JSONResponse(body, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return body

    return router
