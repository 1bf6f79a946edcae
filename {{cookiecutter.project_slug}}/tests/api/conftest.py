from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{cookiecutter.package_name}}.main import create_app
from {{cookiecutter.package_name}}.settings import Settings

ADMIN = ("admin@example.org", "Adm1n-password-for-tests!")
EDITOR = ("editor@example.org", "Ed1tor-password-for-tests!")
READER = ("reader@example.org", "Read3r-password-for-tests!")


def memory_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "repo_database": "memory",
        "storage_backend": "local",
        "identity_backend": "memory",
        "local_storage_dir": str(tmp_path / "objects"),
        "jwt_secret": "test-secret-that-is-long-enough-for-hs256!",
        "admin_email": ADMIN[0],
        "admin_password": ADMIN[1],
        "seed_demo_data": True,
        "argon2_time_cost": 1,  # cheap hashes keep the API suite fast; never in production
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


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


async def bearer(client: httpx.AsyncClient, who: tuple[str, str]) -> dict[str, str]:
    response = await client.post("/auth/login", json={"username": who[0], "password": who[1]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
