"""Create (or complete) the DynamoDB tables of every registered entity.

    python -m <package>.adapters.persistence.dynamodb.provision            # create / add GSIs
    python -m <package>.adapters.persistence.dynamodb.provision --dry-run  # print the layout
    python -m <package>.adapters.persistence.dynamodb.provision --registry pkg.mod:factory

Reads the connection from the service's settings (``AWS_REGION``, ``DYNAMODB_ENDPOINT_URL``
or ``AWS_ENDPOINT_URL``, ``DYNAMODB_TABLE_PREFIX``, AWS credentials) with the service's own
builder, ``builders.dynamodb_backend``. Idempotent: existing tables are kept, missing GSIs are
added one at a time (DynamoDB's rule) and TTL is enabled on ``_ttl``. The service does the same
at start-up when ``CREATE_SCHEMA_ON_STARTUP`` is true.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..registry import EntityRegistry
from .backend import DynamoDbBackend

_ROOT = (__package__ or __name__).split(".adapters", 1)[0]
DEFAULT_REGISTRY = f"{_ROOT}.registrations:build_registry"


def load_registry(target: str) -> EntityRegistry:
    """``module:attribute``: an EntityRegistry, or a zero-argument callable returning one."""
    module_name, _, attribute = target.partition(":")
    found: Any = getattr(importlib.import_module(module_name), attribute or "registry")
    registry = found() if callable(found) else found
    if not isinstance(registry, EntityRegistry):
        raise SystemExit(f"{target} is not an EntityRegistry")
    return registry


def backend_from_settings() -> DynamoDbBackend:
    """The backend the service's settings describe, built by the composition root."""
    # A command-line entry point, so it may reach the composition root (builders.py, a layer
    # above the adapters): imported by name at run time, like the registry above. Adapters
    # never import it statically (lint-imports' layers contract).
    builders = importlib.import_module(f"{_ROOT}.builders")
    settings = importlib.import_module(f"{_ROOT}.settings").Settings()
    backend = builders.dynamodb_backend(settings)
    if not isinstance(backend, DynamoDbBackend):
        raise TypeError(f"builders.dynamodb_backend gave a {type(backend).__name__}")
    return backend


async def provision(registry: EntityRegistry, *, dry_run: bool = False) -> list[str]:
    backend = backend_from_settings()
    specs = [s for s in registry if (s.database or "dynamodb") == "dynamodb"]
    if dry_run:
        for spec in specs:
            layout = backend.layout(spec)
            print(json.dumps(layout.entity_table_definition(), indent=2))
            if layout.unique_table is not None:
                print(json.dumps(layout.unique_table_definition(), indent=2))
        return []
    await backend.start([], create_schema=False)
    try:
        return await backend.provision(specs)
    finally:
        await backend.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="module:attribute")
    parser.add_argument("--dry-run", action="store_true", help="print the tables, change nothing")
    args = parser.parse_args(argv)
    changed = asyncio.run(provision(load_registry(args.registry), dry_run=args.dry_run))
    for table in changed:
        print(f"created or updated {table}")
    if not args.dry_run and not changed:
        print("every table is already provisioned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
