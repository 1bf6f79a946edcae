from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session; tests isolate themselves by unique names."""
    with moto_server() as endpoint:
        yield endpoint
