"""Bake the default answers and a curated set of combinations; check what comes out.

Fast checks read the rendered files. Slow ones (marked ``slow``, run by default) build the baked
projects' shared virtualenv and run the gates a team runs: ruff, ruff format, mypy --strict,
import-linter, and the default bake's own test suite.
"""

from __future__ import annotations

import filecmp
import json
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cruft import create as cruft_create

from tests.conftest import COMBINATIONS, Bakery
from tests.helpers import (
    BAKES_DIR,
    PROJECT_TEMPLATE,
    bake,
    bake_venv,
    default_answers,
    find_python,
    free_port,
    leftover_jinja,
    load_choices,
    project_files,
    read_env_file,
    run_tool,
    tail,
    template_files,
    template_git_repo,
    tool_env,
)
from tests.helpers import (
    answers_of as combination_answers,
)

NAMES = list(COMBINATIONS)

# Adapters that must exist in EVERY bake, whatever the answers (the answers only pick defaults).
# Paths relative to the package; a module may be ``name.py`` or a package ``name/``.
REQUIRED_ADAPTERS = [
    "adapters/persistence/memory",
    "adapters/http/errors",
    "adapters/http/deps",
]


def answers_of(name: str) -> dict[str, str]:
    return combination_answers(COMBINATIONS[name])


def package_dir(project: Path, name: str) -> Path:
    return project / "src" / answers_of(name)["package_name"]


# --------------------------------------------------------------------------------------------
# rendering


def test_every_answer_is_baked() -> None:
    """Each choice of cookiecutter.json is baked by at least one combination."""
    baked = {(key, answers_of(name)[key]) for name in NAMES for key in default_answers()}
    for key, choices in load_choices().items():
        if isinstance(choices, list) and not key.startswith("_"):
            for choice in choices:
                assert (key, choice) in baked, f"no combination bakes {key}={choice}"


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_left_unrendered(bakery: Bakery, name: str) -> None:
    project = bakery(name)

    assert leftover_jinja(project) == []
    assert project.name == answers_of(name)["project_slug"]
    assert package_dir(project, name).is_dir()


@pytest.mark.parametrize("name", NAMES)
def test_bake_holds_exactly_the_template_files(bakery: Bakery, template: Path, name: str) -> None:
    """Every backend is generated whatever the answers; hooks add or remove nothing."""
    answers = answers_of(name)
    expected = sorted(
        Path(
            str(rel.relative_to(PROJECT_TEMPLATE)).replace(
                "{{cookiecutter.package_name}}", answers["package_name"]
            )
        )
        for rel in template_files(template)
        if rel.parts[0] == PROJECT_TEMPLATE
    )

    assert project_files(bakery(name)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_required_adapters_exist(bakery: Bakery, name: str) -> None:
    package = package_dir(bakery(name), name)
    for adapter in REQUIRED_ADAPTERS:
        module = package / f"{adapter}.py"
        init = package / adapter / "__init__.py"
        assert module.is_file() or init.is_file(), f"{adapter} is missing from the {name} bake"


def test_bakes_are_deterministic(template: Path, tmp_path: Path) -> None:
    """Two renders of the same answers are byte-identical (cruft update diffs two renders)."""
    answers = COMBINATIONS["postgres-s3-py312"]
    first = bake(template, tmp_path / "one", **answers)
    second = bake(template, tmp_path / "two", **answers)

    files = project_files(first)
    assert files == project_files(second)
    _, mismatch, errors = filecmp.cmpfiles(first, second, [str(f) for f in files], shallow=False)
    assert (mismatch, errors) == ([], [])


@pytest.mark.parametrize("name", NAMES)
def test_answers_land_in_pyproject(bakery: Bakery, name: str) -> None:
    answers = answers_of(name)
    data = tomllib.loads((bakery(name) / "pyproject.toml").read_text())
    version = answers["python_version"]

    assert data["project"]["name"] == answers["project_slug"]
    assert data["project"]["requires-python"] == f">={version}"
    # Formatting must not depend on the answer (ruff writes PEP 758 excepts for 3.14).
    assert data["tool"]["ruff"]["target-version"] == "py312"
    assert data["tool"]["mypy"]["python_version"] == version
    assert answers["package_name"] in data["tool"]["mypy"]["packages"]
    assert data["tool"]["importlinter"]["root_package"] == answers["package_name"]


@pytest.mark.parametrize("name", NAMES)
def test_answers_land_in_env_example(bakery: Bakery, name: str) -> None:
    answers = answers_of(name)
    values, _ = read_env_file(bakery(name) / ".env.example")

    assert values["REPO_DATABASE"] == answers["repository_backend"]
    assert values["STORAGE_BACKEND"] == answers["storage_backend"]
    assert values["IDENTITY_BACKEND"] == answers["identity_backend"]
    assert values["SERVICE_NAME"] == answers["project_slug"]


def test_cruft_create_renders_what_cookiecutter_renders(
    bakery: Bakery, tmp_path: Path, template: Path
) -> None:
    repo = template_git_repo(tmp_path / "template-repo", template)
    project = cruft_create(str(repo), output_dir=tmp_path / "out", no_input=True)
    baked = bakery("defaults")

    files = project_files(project)
    assert [f for f in files if f.name != ".cruft.json"] == project_files(baked)
    _, mismatch, errors = filecmp.cmpfiles(
        project, baked, [str(f) for f in files if f.name != ".cruft.json"], shallow=False
    )
    assert (mismatch, errors) == ([], [])
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["template"] == str(repo)
    assert recorded["context"]["cookiecutter"]["repository_backend"] == "memory"


# --------------------------------------------------------------------------------------------
# settings: defaults follow the answers, and .env.example documents every field

SETTINGS_PROBE = """
import json, sys
from {package}.settings import Settings

fields = {{
    name: (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
    for name, info in Settings.model_fields.items()
}}
defaults = Settings(_env_file=None).model_dump(mode="json")
from_example = Settings(_env_file=".env.example").model_dump(mode="json")
json.dump({{"fields": fields, "defaults": defaults, "from_example": from_example}}, sys.stdout)
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_settings_defaults_follow_the_answers(bakery: Bakery, name: str) -> None:
    project = bakery(name)
    venv = bake_venv(project)
    answers = answers_of(name)
    clean_env = {
        "PATH": tool_env(project, venv)["PATH"],
        "PYTHONPATH": str(project / "src"),
        "HOME": str(project),
    }
    code = SETTINGS_PROBE.format(package=answers["package_name"])
    result = run_tool(project, venv, ["python", "-c", code], env=clean_env, timeout=120)
    assert result.returncode == 0, tail(result)
    probe = json.loads(result.stdout)
    defaults = probe["defaults"]

    assert defaults["repo_database"] == answers["repository_backend"]
    assert defaults["storage_backend"] == answers["storage_backend"]
    assert defaults["identity_backend"] == answers["identity_backend"]
    assert defaults["service_name"] == answers["project_slug"]

    values, commented = read_env_file(project / ".env.example")
    documented = set(values) | commented
    missing = sorted(set(probe["fields"].values()) - documented)
    unknown = sorted(set(values) - set(probe["fields"].values()))
    assert missing == [], f".env.example does not document {missing}"
    assert unknown == [], f".env.example sets variables no setting reads: {unknown}"
    assert probe["from_example"] == defaults, ".env.example must hold the defaults"

    reference = (project / "docs" / "settings.md").read_text()
    undocumented = sorted(v for v in probe["fields"].values() if f"`{v}`" not in reference)
    assert undocumented == [], f"docs/settings.md does not document {undocumented}"


@pytest.mark.slow
@pytest.mark.suite
def test_default_bake_test_suite_passes(bakery: Bakery) -> None:
    """The generated project's whole suite. CI=true passes through: unreachable backends fail."""
    project = bakery.own("defaults")  # the suite leaves caches behind (.hypothesis)
    venv = bake_venv(project)

    result = run_tool(
        project, venv, ["python", "-m", "pytest", "-p", "no:cacheprovider", "-q"], timeout=1800
    )

    assert result.returncode == 0, f"the default bake's tests failed:\n{tail(result, 200)}"
    assert " passed" in result.stdout, tail(result)


@pytest.mark.slow
@pytest.mark.suite
def test_default_bake_test_suite_passes_on_python_3_12(bakery: Bakery) -> None:
    """The other Python the answers offer that this machine may have (3.14 runs in the
    template's workflow). MongoDB's cases need mongoeco, which needs 3.13: deselected here."""
    python = find_python("3.12")
    if python is None:
        pytest.skip("no Python 3.12 on this machine (TEMPLATE_PYTHON_3_12, PATH, pyenv or uv)")
    project = bakery.own("defaults")
    venv = bake_venv(project, python)

    command = ["python", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "not mongo"]
    result = run_tool(project, venv, command, timeout=1800)

    assert result.returncode == 0, f"the suite failed on Python 3.12:\n{tail(result, 200)}"
    assert " passed" in result.stdout, tail(result)


@pytest.mark.slow
def test_default_bake_serves_openapi(bakery: Bakery) -> None:
    """What ``scripts/demo`` starts: the app factory under uvicorn, OpenAPI at /docs."""
    project = bakery("defaults")
    venv = bake_venv(project)
    port = free_port()
    env = tool_env(
        project,
        venv,
        {"REPO_DATABASE": "memory", "STORAGE_BACKEND": "local", "IDENTITY_BACKEND": "memory"},
    )
    command = [
        str(venv / "bin" / "python"),
        "-m",
        "uvicorn",
        f"{answers_of('defaults')['package_name']}.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        spec = wait_for_json(f"http://127.0.0.1:{port}/openapi.json", server, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=5) as response:
            page = response.read().decode()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)

    assert spec["info"]["title"], output
    assert spec["paths"], "the default service exposes no route"
    assert "swagger" in page.lower()


def wait_for_json(url: str, server: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"the server exited with {server.returncode}:\n{output[-5000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                data: dict[str, Any] = json.loads(response.read())
                return data
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer within {timeout}s")
            time.sleep(0.3)


# --------------------------------------------------------------------------------------------
# the gates a team runs, on every bake

GATES = {
    "ruff-check": ["ruff", "check", "--no-cache", "."],
    "ruff-format": ["ruff", "format", "--check", "--no-cache", "."],
    "mypy": ["mypy", "--cache-dir", str(BAKES_DIR / "mypy-cache")],
    "lint-imports": ["lint-imports", "--no-cache"],
}


@pytest.mark.slow
@pytest.mark.parametrize("gate", list(GATES))
@pytest.mark.parametrize("name", NAMES)
def test_gate_passes(bakery: Bakery, name: str, gate: str) -> None:
    project = bakery(name)
    venv = bake_venv(project)

    result = run_tool(project, venv, GATES[gate])

    assert result.returncode == 0, f"{gate} failed on the {name} bake:\n{tail(result)}"
