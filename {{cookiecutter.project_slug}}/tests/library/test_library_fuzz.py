"""The example feature's routes under the same fuzz as the kit's (tests/fuzz/), on memory."""

from __future__ import annotations

from pathlib import Path

import schemathesis

from {{cookiecutter.package_name}}.main import create_app

from tests.fuzz.test_openapi_fuzz import UNTHROTTLED, fuzz
from tests.support.app import memory_settings


def test_the_example_honours_its_schema(tmp_path: Path) -> None:
    app = create_app(memory_settings(tmp_path, **UNTHROTTLED))
    must_succeed = {"POST /publishers": 201, "GET /publishers": 200, "GET /books": 200}
    fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), must_succeed)
