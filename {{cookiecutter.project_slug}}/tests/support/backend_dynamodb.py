"""The DynamoDB backend of the contract suites: moto's server (or TEST_DYNAMODB_ENDPOINT)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.dynamodb import DynamoDbBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    PersistenceBackend,
)

from tests.support.aws import aws_session
from tests.support.services import port_open, unavailable

REGION = "us-east-1"


def dynamodb_endpoint(request: pytest.FixtureRequest) -> str:
    """TEST_DYNAMODB_ENDPOINT when set, else the session's moto server; skip/fail if down."""
    endpoint = os.environ.get("TEST_DYNAMODB_ENDPOINT") or str(
        request.getfixturevalue("moto_endpoint")
    )
    parsed = urlparse(endpoint)
    if not parsed.hostname or not port_open(parsed.hostname, parsed.port or 80):
        unavailable("dynamodb", f"nothing listens at {endpoint}")
    return endpoint


def make_backend(endpoint: str, **overrides: object) -> DynamoDbBackend:
    options: dict[str, object] = {
        "region": REGION,
        "endpoint_url": endpoint,
        "table_prefix": f"t{uuid.uuid4().hex[:8]}-",
        "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "session": aws_session(),
    }
    options.update(overrides)
    return DynamoDbBackend(**options)  # type: ignore[arg-type]


@asynccontextmanager
async def open_dynamodb(
    request: pytest.FixtureRequest, registry: EntityRegistry
) -> AsyncIterator[PersistenceBackend]:
    endpoint = dynamodb_endpoint(request)
    backend = make_backend(endpoint)
    try:
        yield backend
    finally:
        # The suite closes the backend it used; drop the tables with a client of our own.
        cleaner = make_backend(endpoint, table_prefix=backend.table_prefix)
        await cleaner.start([], create_schema=False)
        try:
            await cleaner.drop(list(registry))
        finally:
            await cleaner.close()
