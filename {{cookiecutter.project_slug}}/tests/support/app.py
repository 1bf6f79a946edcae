"""The service as the kit's own HTTP tests run it: ``create_app()`` with a feature of the
tests' own (owners and their widgets, every field kind) instead of the example, so deleting the
example never touches the kit's fuzz, outage and bad-input suites."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from {{cookiecutter.package_name}}.adapters.http.resources import Resource, resource_router
from {{cookiecutter.package_name}}.adapters.persistence.registry import EntityRegistry
from {{cookiecutter.package_name}}.features.feature import Feature
from {{cookiecutter.package_name}}.main import create_app
from {{cookiecutter.package_name}}.settings import Settings

from tests.support.entities import Owner, Status, Widget

ADMIN = ("admin@example.org", "Adm1n-password-for-tests!")
EDITOR = ("editor@example.org", "Ed1tor-password-for-tests!")
READER = ("reader@example.org", "Read3r-password-for-tests!")

OWNER_ID = "kit-owner"
WIDGET_ID = "kit-widget"  # seeded at start-up: outage and bad-input tests read it


def register(registry: EntityRegistry) -> None:
    registry.register(
        "owner",
        {
            "entity": Owner,
            "collection": "owners",
            "unique": ["email"],
            "relations": {"widgets": {"target": "widget", "target_field": "owner_id"}},
        },
    )
    registry.register(
        "widget",
        {
            "entity": Widget,
            "collection": "widgets",
            "unique": ["sku", "barcode"],
            "indexes": ["owner_id", "status"],
            "relations": {
                "owner": {"target": "owner", "local_field": "owner_id", "on_delete": "restrict"}
            },
        },
    )


def router(registry: EntityRegistry) -> APIRouter:
    return resource_router(
        registry,
        [
            Resource(
                "owner", "/owners", constraints={"name": {"min_length": 1, "max_length": 200}}
            ),
            Resource(
                "widget",
                "/widgets",
                hidden=("attributes",),
                constraints={"sku": {"min_length": 1, "max_length": 64}},
            ),
        ],
    )


def demo_records() -> Mapping[str, Sequence[Any]]:
    created = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return {
        "owner": [Owner(id=OWNER_ID, name="Kit", email="kit@example.org")],
        "widget": [
            Widget(
                id=WIDGET_ID,
                sku="KIT-1",
                name="Seeded widget",
                price=Decimal("9.99"),
                status=Status.ACTIVE,
                owner_id=OWNER_ID,
                created_at=created,
            )
        ],
    }


KIT = Feature("kit", register=register, router=router, demo_records=demo_records)


def kit_registry() -> EntityRegistry:
    """The registry ``kit_app`` builds (to find or drop its tables)."""
    registry = EntityRegistry()
    register(registry)
    return registry


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


def kit_app(settings: Settings) -> FastAPI:
    """The service with the kit's test feature only."""
    return create_app(settings, features=(KIT,))


@asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    """``app`` through its lifespan, with an editor and a reader besides the seeded admin."""
    async with app.router.lifespan_context(app):
        identity = app.state.services.identity_provider
        await identity.ensure_user(EDITOR[0], EDITOR[0], EDITOR[1], roles=("editor",))
        await identity.ensure_user(READER[0], READER[0], READER[1], roles=())
        yield app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def bearer(client: httpx.AsyncClient, who: tuple[str, str]) -> dict[str, str]:
    response = await client.post("/auth/login", json={"username": who[0], "password": who[1]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
