"""The service with the kit's test feature (tests/support/app.py), in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.app import EDITOR, READER, kit_app, memory_settings


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = kit_app(memory_settings(tmp_path))
    async with application.router.lifespan_context(application):
        identity = application.state.identity_provider
        await identity.ensure_user(EDITOR[0], EDITOR[0], EDITOR[1], roles=("editor",))
        await identity.ensure_user(READER[0], READER[0], READER[1], roles=())
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
