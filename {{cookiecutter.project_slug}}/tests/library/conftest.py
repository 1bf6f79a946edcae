"""The example feature's tests run the service as generated: ``create_app()`` with every
feature of ``registrations.FEATURES``. Delete this folder with the example."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{cookiecutter.package_name}}.main import create_app

from tests.support.app import EDITOR, READER, memory_settings


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = create_app(memory_settings(tmp_path))
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
