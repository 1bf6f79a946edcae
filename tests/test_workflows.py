"""The GitHub workflows: the template's own CI, and the generated project's CI and update job.

Every workflow file is parsed with PyYAML; the jobs and steps that matter are looked up by what
they run. The project's workflows are copied without rendering (``_copy_without_render``), so the
bake must hold them byte for byte, ``${{ }}`` expressions included.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import COMBINATIONS, Bakery
from tests.helpers import PROJECT_TEMPLATE, TEMPLATE_DIR, UNRENDERED, load_choices

TEMPLATE_WORKFLOWS = TEMPLATE_DIR / ".github" / "workflows"
PROJECT_WORKFLOWS = TEMPLATE_DIR / PROJECT_TEMPLATE / ".github" / "workflows"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    # YAML 1.1 reads the key ``on`` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


def uses(job: dict[str, Any]) -> list[str]:
    return [str(step["uses"]).split("@")[0] for step in steps(job) if "uses" in step]


def all_workflow_files() -> list[Path]:
    return sorted(TEMPLATE_WORKFLOWS.glob("*.yml")) + sorted(PROJECT_WORKFLOWS.glob("*.yml"))


def assert_postgres_service(job: dict[str, Any]) -> None:
    postgres = job["services"]["postgres"]
    assert str(postgres["image"]).startswith("postgres:")
    assert "5432:5432" in postgres["ports"]
    assert postgres["env"]["POSTGRES_DB"] == "test"
    assert job["env"]["CI"] == "true", "unreachable backends must fail the run, not skip"


# --------------------------------------------------------------------------------------------
# every workflow file


@pytest.mark.parametrize(
    "path", all_workflow_files(), ids=lambda p: str(Path(p).relative_to(TEMPLATE_DIR))
)
def test_workflow_is_valid(path: Path) -> None:
    data = load(path)

    assert data["name"]
    assert data["on"]
    assert data["jobs"]
    for name, job in data["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert steps(job), f"job {name} has no steps"
        for step in steps(job):
            assert ("run" in step) != ("uses" in step), f"{name}: {step}"
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    "path", all_workflow_files(), ids=lambda p: str(Path(p).relative_to(TEMPLATE_DIR))
)
def test_run_scripts_are_valid_bash(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            if "run" not in step:
                continue
            script = EXPRESSION.sub("EXPR", step["run"])
            result = subprocess.run(
                ["bash", "-n"], input=script, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, f"{name}: {result.stderr}\n{script}"


# --------------------------------------------------------------------------------------------
# the template's CI


def test_template_ci_lints_and_runs_the_readme_command() -> None:
    jobs = load(TEMPLATE_WORKFLOWS / "template-ci.yml")["jobs"]

    lint = runs(jobs["lint"])
    assert "ruff check hooks tests" in lint
    assert "ruff format --check hooks tests" in lint

    test = jobs["test"]
    assert_postgres_service(test)
    assert "bash .ci/run" in runs(test)
    assert "scripts/test" in (TEMPLATE_DIR / ".ci" / "run").read_text()
    offered = load_choices()["python_version"]
    assert isinstance(offered, list)
    emulated = sorted(v for v in offered if tuple(map(int, v.split("."))) >= (3, 13))
    assert sorted(test["strategy"]["matrix"]["python"]) == emulated


def test_template_ci_bake_matrix_is_the_combinations() -> None:
    """The bake matrix renders tests/conftest.py's combinations, each on its own Python."""
    bake = load(TEMPLATE_WORKFLOWS / "template-ci.yml")["jobs"]["bake"]
    default_python = load_choices()["python_version"]
    assert isinstance(default_python, list)
    include = bake["strategy"]["matrix"]["include"]

    assert [entry["name"] for entry in include] == list(COMBINATIONS)
    for entry in include:
        lines = [line for line in str(entry["answers"]).splitlines() if line]
        answers = dict(line.split("=", 1) for line in lines)
        assert answers == COMBINATIONS[entry["name"]], entry["name"]
        assert entry["python"] == answers.get("python_version", default_python[0])

    assert_postgres_service(bake)
    commands = runs(bake)
    for command in ("cookiecutter .", "ruff check .", "ruff format --check .", "mypy"):
        assert command in commands
    assert "lint-imports" in commands
    assert "pytest" in commands


# --------------------------------------------------------------------------------------------
# the generated project's workflows, in the template and in bakes


def test_project_ci_has_the_gates_tests_and_drift_check() -> None:
    jobs = load(PROJECT_WORKFLOWS / "ci.yml")["jobs"]

    assert "ruff check ." in runs(jobs["lint"])
    assert "ruff format --check ." in runs(jobs["lint"])
    assert "mypy" in runs(jobs["typecheck"])
    assert "lint-imports" in runs(jobs["import-contracts"])
    test = jobs["test"]
    assert_postgres_service(test)
    assert "pytest" in runs(test)
    assert "cruft check" in runs(jobs["template-drift"])
    for name in ("lint", "typecheck", "import-contracts", "test"):
        assert jobs[name]["needs"] == "setup", name


def test_project_template_update_workflow_proposes_a_pull_request() -> None:
    data = load(PROJECT_WORKFLOWS / "template-update.yml")
    (job,) = data["jobs"].values()

    assert data["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in data["on"]
    assert data["permissions"] == {"contents": "write", "pull-requests": "write"}
    checkout = next(s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0, "the 3-way merge needs the first render's blobs"
    # the logic is .github/scripts/template-update.sh, tested as a script (test_template_update)
    assert "bash .github/scripts/template-update.sh" in runs(job)
    assert "peter-evans/create-pull-request" not in uses(job), "it reset branches people pushed"


VERSIONS_CASES = {"defaults": ["3.13"], "postgres-s3-py312": ["3.12", "3.13"]}


@pytest.mark.parametrize("name", list(VERSIONS_CASES))
def test_project_ci_reads_the_python_version_at_run_time(bakery: Bakery, name: str) -> None:
    """The copied ci.yml names no version: its setup step reads requires-python."""
    project = bakery(name)
    setup = load(project / ".github" / "workflows" / "ci.yml")["jobs"]["setup"]
    (step,) = [s for s in steps(setup) if s.get("id") == "versions"]
    match = re.search(r"<<'PY'[^\n]*\n(.*?)\n\s*PY\n", step["run"], re.DOTALL)
    assert match, step["run"]

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(match.group(1))],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )

    outputs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    tests = VERSIONS_CASES[name]
    assert outputs == {"python": tests[0], "tests": json.dumps(tests)}


@pytest.mark.parametrize("name", ["defaults", "dynamodb-custom-names"])
def test_baked_workflows_are_copied_verbatim(bakery: Bakery, name: str) -> None:
    baked_dir = bakery(name) / ".github" / "workflows"
    templates = sorted(PROJECT_WORKFLOWS.glob("*.yml"))

    assert [p.name for p in sorted(baked_dir.glob("*.yml"))] == [p.name for p in templates]
    assert {p.name for p in templates} >= {"ci.yml", "template-update.yml"}
    for source in templates:
        baked = baked_dir / source.name
        text = baked.read_text()
        assert text == source.read_text(), f"{source.name} was rendered"
        assert "${{" in text
        assert "{{ cookiecutter" not in text
        assert "cookiecutter." not in text
        assert [line for line in text.splitlines() if UNRENDERED.search(line)] == []
        load(baked)
