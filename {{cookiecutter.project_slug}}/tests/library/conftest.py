"""The example feature's tests run the service as generated: ``create_app()`` with every
feature of ``registrations.FEATURES``. Delete this folder with the example."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{cookiecutter.package_name}}.main import create_app

from tests.support.app import client_of, memory_settings, started


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with started(create_app(memory_settings(tmp_path))) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as http:
        yield http
