"""Liveness (the process answers) and readiness (every selected backend answers)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ....ports.errors import KitError
from ..deps import ReadinessCheck, ServicesDep
from ..errors import RETRY_AFTER_SECONDS
from ..routing import PrefixRouter


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
    router = PrefixRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> Liveness:
        return Liveness(status="ok")

    @router.get("/ready", response_model=Readiness, responses=NOT_READY)
    async def ready(services: ServicesDep) -> Any:
        checks = services.readiness_checks
        names = list(checks)
        timeout = services.readiness_timeout_seconds
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
