"""Bad answers stop generation in pre_gen_project with a clear message and leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context, generate_files

from tests.helpers import TEMPLATE_DIR, bake, project_files


def cookiecutter_cli(
    template: Path, output_dir: Path, **answers: str
) -> subprocess.CompletedProcess[str]:
    """The real command line a user types, with ``key=value`` answers."""
    output_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            str(template),
            "--no-input",
            "--default-config",
            "--output-dir",
            str(output_dir),
            *(f"{key}={value}" for key, value in answers.items()),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        pytest.param({"project_slug": "1bad"}, "project_slug '1bad' is not valid", id="slug-digit"),
        pytest.param({"project_slug": "Bad_Slug"}, "project_slug 'Bad_Slug'", id="slug-case"),
        pytest.param({"project_slug": "trailing-"}, "project_slug 'trailing-'", id="slug-hyphen"),
        pytest.param({"package_name": "class"}, "'class' is a Python keyword", id="keyword"),
        pytest.param({"package_name": "fastapi"}, "'fastapi' is reserved", id="dependency"),
        pytest.param({"package_name": "pydantic"}, "'pydantic' is reserved", id="pydantic"),
        pytest.param({"package_name": "tests"}, "'tests' is reserved", id="tests"),
        pytest.param({"package_name": "domain"}, "'domain' is reserved", id="layer"),
        pytest.param({"package_name": "asyncio"}, "standard library", id="stdlib"),
        pytest.param({"package_name": "typing"}, "standard library", id="typing"),
        pytest.param({"package_name": "My-Pkg"}, "not a valid Python package name", id="pkg-chars"),
        pytest.param({"package_name": "_private"}, "not a valid Python package name", id="pkg-_"),
        pytest.param(
            {"author_email": "not-an-email"},
            "author_email 'not-an-email' does not look like an email",
            id="email",
        ),
        pytest.param(
            {"project_name": 'Say "hi"'}, "project_name 'Say \"hi\"' must be plain text", id="quote"
        ),
    ],
)
def test_bad_answer_fails_with_message(
    template: Path, tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    out = tmp_path / "out"
    result = cookiecutter_cli(template, out, **answers)

    assert result.returncode != 0, result.stdout + result.stderr
    assert "the template's answers are not valid" in result.stderr
    assert message in result.stderr, result.stderr
    assert list(out.iterdir()) == [], "a failed generation must leave no project behind"


def test_every_problem_is_reported_at_once(template: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cookiecutter_cli(
        template, out, project_slug="1bad", package_name="class", author_email="x"
    )

    assert result.returncode != 0
    for expected in ("project_slug '1bad'", "package_name 'class'", "author_email 'x'"):
        assert expected in result.stderr
    assert list(out.iterdir()) == []


def test_python_version_outside_the_choices_is_refused(template: Path, tmp_path: Path) -> None:
    # cookiecutter itself refuses an answer outside a choice list before any hook runs.
    out = tmp_path / "out"
    result = cookiecutter_cli(template, out, python_version="3.10")

    assert result.returncode != 0
    assert "3.10" in result.stderr
    assert "python_version" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("python_version", "3.10", "python_version '3.10' is not supported: choose one of 3.12"),
        ("repository_backend", "sqlite", "repository_backend 'sqlite' is not one of: memory"),
        ("storage_backend", "ftp", "storage_backend 'ftp' is not one of: local, s3"),
        ("identity_backend", "ldap", "identity_backend 'ldap' is not one of: repository"),
    ],
)
def test_hook_refuses_choices_that_bypass_the_prompt(
    template: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    key: str,
    value: str,
    message: str,
) -> None:
    # A replay file or a hand-edited .cruft.json reaches the hook without cookiecutter's
    # choice check: the hook must still refuse the value.
    context = generate_context(context_file=str(template / "cookiecutter.json"))
    context["cookiecutter"][key] = value
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(FailedHookException):
        generate_files(repo_dir=str(template), context=context, output_dir=str(out))

    assert message in capfd.readouterr().err
    assert list(out.iterdir()) == []


def test_unusual_but_valid_answers_are_accepted(template: Path, tmp_path: Path) -> None:
    project = bake(
        template,
        tmp_path,
        project_name="A",
        project_slug="a1-b2",
        package_name="svc_2",
        author_email="first.last+tag@sub.example.co.uk",
    )

    assert project.name == "a1-b2"
    assert (project / "src" / "svc_2").is_dir()


def test_post_gen_hook_only_prints(template: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cookiecutter_cli(template, out)

    assert result.returncode == 0, result.stderr
    assert "cd bookshelf-service" in result.stdout
    assert "REPO_DATABASE=memory" in result.stdout
    project = out / "bookshelf-service"
    assert not (project / ".git").exists(), "hooks must not run git"
    assert not (project / ".venv").exists(), "hooks must not install anything"
    assert not (project / "uv.lock").exists(), "hooks must not install anything"
    assert project_files(project), "the project was generated"


def test_names_longer_than_their_placeholders_are_refused(tmp_path: Path) -> None:
    """Longer names could render lines past the length the template was formatted at."""
    from cookiecutter.main import cookiecutter

    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"package_name": "p" * 30},
        )
    assert not any(tmp_path.iterdir())
