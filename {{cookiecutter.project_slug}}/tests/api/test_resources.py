"""Routes derived from a registration (adapters/http/resources.py): hidden and renamed fields,
server-set fields, role guards per operation, includes and OpenAPI models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from {{cookiecutter.package_name}}.adapters.http.resources import Access, Resource, resource_router
from {{cookiecutter.package_name}}.adapters.persistence.registry import EntityRegistry
from {{cookiecutter.package_name}}.features.feature import Feature
from {{cookiecutter.package_name}}.main import create_app

from tests.support.app import ADMIN, EDITOR, READER, bearer, memory_settings


@dataclass
class Shelf:
    label: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = 0


@dataclass
class Gadget:
    name: str
    shelf_id: str
    serial: str = ""  # on the wire: "serial_number"
    secret: str = "s3cret"  # never on the wire
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = 0


def register(registry: EntityRegistry) -> None:
    registry.register(
        "shelf",
        {
            "entity": Shelf,
            "collection": "shelves",
            "relations": {"gadgets": {"target": "gadget", "target_field": "shelf_id"}},
        },
    )
    registry.register(
        "gadget",
        {
            "entity": Gadget,
            "collection": "gadgets",
            "unique": ["serial"],
            "relations": {
                "shelf": {"target": "shelf", "local_field": "shelf_id", "on_delete": "cascade"}
            },
        },
    )


def router(registry: EntityRegistry) -> APIRouter:
    return resource_router(
        registry,
        [
            Resource("shelf", "/shelves", access=Access(read=("admin",))),
            Resource(
                "gadget",
                "/gadgets",
                hidden=("secret",),
                renamed={"serial": "serial_number"},
                access=Access(update=("admin",), delete=("admin",)),
                constraints={"name": {"max_length": 10}},
                example={"name": "probe", "shelf_id": "s1", "serial_number": "X-1"},
                operations=frozenset({"list", "get", "create", "update", "delete"}),
            ),
        ],
    )


GADGETS = Feature("gadgets", register=register, router=router)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(memory_settings(tmp_path, seed_demo_data=False), features=(GADGETS,))
    async with app.router.lifespan_context(app):
        identity = app.state.services.identity_provider
        await identity.ensure_user(EDITOR[0], EDITOR[0], EDITOR[1], roles=("editor",))
        await identity.ensure_user(READER[0], READER[0], READER[1], roles=())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_hidden_renamed_and_server_set_fields(client: httpx.AsyncClient) -> None:
    admin, editor = await bearer(client, ADMIN), await bearer(client, EDITOR)
    shelf = (await client.post("/shelves", json={"label": "A"}, headers=editor)).json()
    body = {"name": "probe", "shelf_id": shelf["id"], "serial_number": "X-1"}
    created = await client.post("/gadgets", json=body, headers=editor)
    assert created.status_code == 201, created.text
    gadget = created.json()
    assert gadget["serial_number"] == "X-1"
    assert "secret" not in gadget
    assert "serial" not in gadget
    assert gadget["version"] == 1

    for refused in ({**body, "secret": "x"}, {**body, "id": "mine"}, {**body, "version": 9}):
        response = await client.post("/gadgets", json=refused, headers=editor)
        assert response.status_code == 422, response.text  # not writable through the API
    too_long = await client.post("/gadgets", json={**body, "name": "x" * 11}, headers=editor)
    assert too_long.status_code == 422

    # hidden fields stay hidden when the entity is included from another resource
    shelf_view = await client.get(
        f"/shelves/{shelf['id']}", params={"include": "gadgets"}, headers=admin
    )
    assert shelf_view.status_code == 200, shelf_view.text
    [included] = shelf_view.json()["gadgets"]
    assert "secret" not in included
    assert included["serial_number"] == "X-1"


async def test_each_operation_has_its_own_guard(client: httpx.AsyncClient) -> None:
    admin, editor, reader = (
        await bearer(client, ADMIN),
        await bearer(client, EDITOR),
        await bearer(client, READER),
    )
    assert (await client.get("/shelves")).status_code == 401  # reads need an admin here
    assert (await client.get("/shelves", headers=reader)).status_code == 403
    shelf = (await client.post("/shelves", json={"label": "A"}, headers=editor)).json()
    body = {"name": "probe", "shelf_id": shelf["id"], "serial_number": "X-1"}
    gadget = (await client.post("/gadgets", json=body, headers=editor)).json()
    path = f"/gadgets/{gadget['id']}"

    assert (await client.get(path)).status_code == 200  # public reads
    patch = {"version": 1, "name": "renamed"}
    assert (await client.patch(path, json=patch, headers=editor)).status_code == 403
    changed = await client.patch(path, json=patch, headers=admin)
    assert (changed.status_code, changed.json()["name"]) == (200, "renamed")
    assert (await client.delete(path, headers=editor)).status_code == 403
    assert (await client.delete(path, headers=admin)).status_code == 204
    assert (await client.get(path)).status_code == 404


async def test_openapi_models_are_derived_from_the_entity(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    models = schema["components"]["schemas"]
    assert {"GadgetIn", "GadgetPatch", "GadgetOut", "GadgetPage"} <= set(models)
    assert set(models["GadgetIn"]["properties"]) == {"name", "shelf_id", "serial_number"}
    assert models["GadgetIn"]["properties"]["name"]["maxLength"] == 10
    assert models["GadgetIn"]["examples"] == [
        {"name": "probe", "shelf_id": "s1", "serial_number": "X-1"}
    ]
    assert "version" in models["GadgetPatch"]["required"]
    assert "secret" not in models["GadgetOut"]["properties"]
    assert "shelf" in models["GadgetOut"]["properties"]  # an include
    operations = schema["paths"]["/gadgets/{id}"]
    assert {"get", "patch", "delete"} <= set(operations)
    assert "403" in operations["delete"]["responses"]
