"""The benchmarks' own feature: items with a category, a price and tags, exposed through the
routes derived from a registration. The HTTP benchmark loads these, so it measures the kit's
HTTP layer whatever features the service runs (and survives the example's removal)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from fastapi import APIRouter, FastAPI

from {{cookiecutter.package_name}}.adapters.http.resources import Resource, resource_router
from {{cookiecutter.package_name}}.adapters.persistence.registry import EntityRegistry
from {{cookiecutter.package_name}}.features.feature import Feature
from {{cookiecutter.package_name}}.main import create_app

BENCH_APP = "benchmarks.items:create_bench_app"


@dataclass
class Item:
    name: str
    category: str
    price: Decimal = Decimal("0")
    tags: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    version: int = 0


def register(registry: EntityRegistry) -> None:
    registry.register(
        "item",
        {"entity": Item, "collection": "bench_items", "unique": ["name"], "indexes": ["category"]},
    )


def router(registry: EntityRegistry) -> APIRouter:
    return resource_router(registry, [Resource("item", "/items")])


ITEMS = Feature("bench-items", register=register, router=router)


def create_bench_app() -> FastAPI:
    """``uvicorn benchmarks.items:create_bench_app --factory``: the service with items only."""
    return create_app(features=(ITEMS,))
