"""Property-based fuzz of the whole OpenAPI schema, in process, on memory and PostgreSQL (the
service with the kit's test feature, tests/support/app.py: every field kind through routes
derived from a registration; the example feature is fuzzed in tests/library/).

schemathesis generates requests for every operation of ``/openapi.json`` (valid ones and ones
the schema forbids), sends them to the app through its ASGI transport (no server, no socket)
with an admin's bearer token so the write routes run, and checks every answer:

- no 5xx;
- the status code is one the operation documents, with the documented content type;
- the body validates against the documented model (errors included: ``{"error", "message"}``);
- data the schema forbids is refused with a 4xx;
- no error body names a driver, an exception class or a stack frame (tests/support/leaks.py).

Bounded and reproducible: ``MAX_EXAMPLES`` per operation, a per-example deadline,
``derandomize=True`` (the seed derives from the test) and no example database, so CI sees the
same requests on every run. A failure prints the request as a curl command.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import AuthContext, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.app import ADMIN, kit_app, memory_settings
from tests.support.leaks import leak_in, service_words
from tests.support.postgres_scratch import create_scratch_database, drop_scratch_database

MAX_EXAMPLES = 15  # per operation and generation mode
DEADLINE_MS = 2_000  # per example

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# The fuzz sends hundreds of wrong logins from one address, and signs the admin in before each
# case: the throttle would soon answer 429 to both (tests/api/test_throttle_api.py covers it).
UNTHROTTLED: dict[str, object] = {"throttle_enabled": False}

# Random valid bodies are accepted by these: proof the fuzz reaches the write paths.
WRITES_THAT_MUST_SUCCEED = {"POST /owners": 201, "GET /owners": 200, "GET /widgets": 200}

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE_MS,
    derandomize=True,  # the seed derives from the test function: same requests every run
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _sign_in_as_admin(schema: BaseSchema) -> None:
    """Every generated request carries an admin's token, except the negative cases that drop
    the Authorization header on purpose (schemathesis skips auth for those). A fresh one for each
    case: a fuzzed logout, role change or password change revokes the tokens issued before it."""

    def sign_in() -> str:
        body: Any = {"username": ADMIN[0], "password": ADMIN[1]}
        response = schema["/auth/login"]["POST"].Case(body=body).call()
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    sign_in()  # fails here, with the reason, if the admin cannot sign in at all

    @schema.auth(refresh_interval=1)
    class AdminToken:
        def get(self, case: Case[Any], context: AuthContext) -> str:
            return sign_in()

        def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
            case.headers["Authorization"] = f"Bearer {data}"


def _fuzz_test(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, statuses: set[int]
) -> Callable[[], None]:
    """A Hypothesis test sending ``mode`` cases of ``operation``; records the statuses seen."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @FUZZ_SETTINGS
    def exercise(case: Case[Any]) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses.add(response.status_code)
        if response.status_code >= 400:
            leaked = leak_in(service_words(response.text))
            assert leaked is None, f"{leaked!r} leaked: {response.status_code} {response.text}"

    return exercise


def fuzz(schema: BaseSchema, must_succeed: dict[str, int] = WRITES_THAT_MUST_SUCCEED) -> None:
    """Every operation, valid and invalid data; all failures are collected, then reported."""
    _sign_in_as_admin(schema)
    failures: list[str] = []
    seen: defaultdict[str, set[int]] = defaultdict(set)
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_test(operation, mode, seen[operation.label])()
            except Unsatisfiable:
                # no parameter and no body: nothing the schema forbids can be sent
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # every operation, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations > 20, f"only {operations} operations in the schema"
    assert not failures, "\n\n".join(failures)
    # The admin's token works, so writes really ran (not only 401/403/422 answers).
    for label, status in must_succeed.items():
        assert status in seen[label], f"{label} never answered {status}: {sorted(seen[label])}"


# --- memory -------------------------------------------------------------------------------


def test_memory_backend_honours_its_schema(tmp_path: Path) -> None:
    app = kit_app(memory_settings(tmp_path, **UNTHROTTLED))
    fuzz(schemathesis.openapi.from_asgi("/openapi.json", app))


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A database of its own on the test server (created here, dropped afterwards)."""
    url = asyncio.run(create_scratch_database())
    try:
        yield url
    finally:
        asyncio.run(drop_scratch_database(url))


def test_postgres_backend_honours_its_schema(tmp_path: Path, scratch_postgres: str) -> None:
    settings_ = memory_settings(
        tmp_path, repo_database="postgres", postgres_dsn=scratch_postgres, **UNTHROTTLED
    )
    app = kit_app(settings_)
    try:
        fuzz(schemathesis.openapi.from_asgi("/openapi.json", app))
    finally:
        asgi.shutdown_lifespans()  # close the engine before the database is dropped
