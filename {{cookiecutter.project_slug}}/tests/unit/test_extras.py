"""Drivers are extras: a backend whose extra is missing stops the start-up with a message that
says what to install; and the defaults import no driver and nothing of OpenTelemetry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from {{cookiecutter.package_name}}.builders import DISTRIBUTION, MissingExtra, require_extra
from {{cookiecutter.package_name}}.main import create_app
from {{cookiecutter.package_name}}.settings import Settings

from tests.support.app import memory_settings


@pytest.mark.parametrize(
    ("blocked", "extra", "choice"),
    [
        ("asyncpg", "postgres", {"repo_database": "postgres"}),
        ("sqlalchemy", "postgres", {"repo_database": "postgres"}),
        ("pymongo", "mongo", {"repo_database": "mongo"}),
        ("aioboto3", "aws", {"repo_database": "dynamodb"}),
        ("aioboto3", "aws", {"storage_backend": "s3"}),
        (
            "aioboto3",
            "aws",
            {
                "identity_backend": "cognito",
                "cognito_user_pool_id": "us-east-1_abc",
                "cognito_client_id": "client",
            },
        ),
    ],
)
async def test_a_backend_without_its_extra_stops_the_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    blocked: str,
    extra: str,
    choice: dict[str, Any],
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)  # as if the package were not installed
    app = create_app(memory_settings(tmp_path, **choice))

    with pytest.raises(MissingExtra) as info:
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover

    message = str(info.value)
    assert f"'{extra}' extra" in message
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in message
    assert f"uv sync --extra {extra}" in message
    assert repr(blocked) in message


def test_telemetry_without_its_extra_stops_create_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)

    with pytest.raises(MissingExtra, match=r"OTEL_ENABLED=true needs the 'otel' extra"):
        create_app(memory_settings(tmp_path, otel_enabled=True))


def test_require_extra_passes_when_installed() -> None:
    require_extra("postgres", "a test")  # the dev group installs every extra


def test_the_distribution_is_this_project() -> None:
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    assert f'name = "{DISTRIBUTION}"' in pyproject.read_text()


DEFAULTS_PROBE = """
import asyncio, sys
import httpx
from PACKAGE.main import create_app
from PACKAGE.settings import Settings

async def main() -> None:
    settings = Settings(
        _env_file=None, repo_database="memory", storage_backend="local",
        identity_backend="memory", local_storage_dir=sys.argv[1],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/health/ready")).status_code == 200

asyncio.run(main())
loaded = sorted(
    name for name in sys.modules if "." not in name or name.startswith("opentelemetry.")
)
print("MODULES", *loaded)
"""


def test_the_defaults_import_no_driver_and_no_opentelemetry_sdk(tmp_path: Path) -> None:
    """(FastAPI itself imports the OpenTelemetry API, a no-op until providers are set.)"""
    package = Settings.__module__.split(".")[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", DEFAULTS_PROBE.replace("PACKAGE", package), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,  # no .env
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (modules,) = [line for line in result.stdout.splitlines() if line.startswith("MODULES ")]
    loaded = set(modules.split()[1:])
    heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation")
    assert sorted(name for name in loaded if name.startswith(heavy)) == []
    assert loaded.isdisjoint({"sqlalchemy", "asyncpg", "pymongo", "aioboto3", "botocore"})
    # PyJWT (and the cryptography it loads, ~0.1 s) waits for the first token.
    assert loaded.isdisjoint({"jwt", "cryptography"})
