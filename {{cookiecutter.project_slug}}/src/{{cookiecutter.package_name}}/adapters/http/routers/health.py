"""Liveness (the process answers) and readiness (every selected backend answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ....ports.errors import KitError
from ..errors import RETRY_AFTER_SECONDS

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT_SECONDS = 2.0


async def _run_check(check: ReadinessCheck) -> str | None:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS}s"
    except KitError as exc:
        return exc.message
    return None


def build_health_router() -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    async def ready(request: Request) -> Any:
        checks = cast(
            Mapping[str, ReadinessCheck], getattr(request.app.state, "readiness_checks", {})
        )
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
        failures = {name: reason for name, reason in zip(names, results, strict=True) if reason}
        body = {
            "status": "unavailable" if failures else "ready",
            "checks": {name: failures.get(name, "ok") for name in names},
        }
        if failures:
            return JSONResponse(body, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return body

    return router
