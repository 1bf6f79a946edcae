"""Teams edit the vendored kit in their own tree and still take template updates with cruft.

Each test links a project to a local git copy of the template (``cruft create``), commits the
render as is, changes the project and/or the template, and runs ``cruft update`` exactly as a team
does (the CLI, ``--skip-apply-ask --allow-untracked-files``). What cruft 2.16 does, and what
``docs/upgrading.md`` tells users:

- the update is the diff between two renders of the template (old commit, new commit) with the
  project's answers, applied with ``git apply -3``: a 3-way merge against the blobs of the
  project's first commit;
- hunks on both sides of the same lines leave standard conflict markers (``<<<<<<< ours`` /
  ``>>>>>>> theirs``) and an unmerged path in git's index; cruft still exits 0;
- when no 3-way merge is possible (the first commit was not the render as is), cruft retries
  with ``git apply --reject``: what applies is applied, the rest goes to ``<file>.rej``.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    GATES,
    PROJECT_TEMPLATE,
    bake_venv,
    commit_all,
    cruft_cli,
    cruft_project,
    default_answers,
    files_with_conflict_markers,
    git,
    read_env_file,
    rejected_hunk_files,
    run_tool,
    tail,
    template_git_repo,
    unmerged_files,
)

pytestmark = pytest.mark.slow

PACKAGE = "bookshelf_service"  # the default answers' package (and project "bookshelf-service")
MEMORY_BACKEND = Path("adapters/persistence/memory/backend.py")  # inside the package

UPDATE = ("update", "--skip-apply-ask", "--allow-untracked-files")

USER_METHOD = '''
    def team_label(self) -> str:
        """Added by the team in its own tree: cruft update must keep it."""
        return "memory backend, edited in-tree"
'''

TEMPLATE_COMMENT = "# Template 0.1.1: this note came from the template through cruft update.\n"

TEMPLATE_NEW_MODULE = '''"""A module the template added in a later version."""

from __future__ import annotations


def template_feature() -> str:
    return "new in the template"
'''


def in_project(rel: Path) -> Path:
    return Path("src") / PACKAGE / rel


def in_template(rel: Path) -> Path:
    return Path(PROJECT_TEMPLATE) / "src" / "{{cookiecutter.package_name}}" / rel


def insert_lines(path: Path, after_line: int, text: str) -> None:
    """Insert ``text`` after line ``after_line`` (1-based; 0 = at the top)."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:after_line], text, *lines[after_line:]]))


def add_method_to_memory_backend(module: Path) -> None:
    """The team's change: a new method at the end of ``MemoryBackend``'s body."""
    tree = ast.parse(module.read_text())
    (backend,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MemoryBackend"]
    assert backend.end_lineno is not None
    insert_lines(module, backend.end_lineno, USER_METHOD)


def add_template_comment(module: Path) -> int:
    """The template's change in another part of the same file: a comment line above the first
    statement after the module docstring. Returns the line it was inserted at."""
    tree = ast.parse(module.read_text())
    first = tree.body[1] if ast.get_docstring(tree) is not None else tree.body[0]
    insert_lines(module, first.lineno - 1, TEMPLATE_COMMENT)
    return first.lineno


def replace_first_line(path: Path, new_line: str) -> str:
    lines = path.read_text().splitlines(keepends=True)
    old = lines[0]
    path.write_text("".join([new_line + "\n", *lines[1:]]))
    return old.rstrip("\n")


def run_update(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = cruft_cli(project, *UPDATE, *extra)
    assert result.returncode == 0, tail(result)
    return result


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """(template git repo, project created from it by cruft and committed as rendered)."""
    template = template_git_repo(tmp_path / "template")
    project = cruft_project(template, tmp_path / "out")
    return template, project


def test_render_is_committed_whole(linked: tuple[Path, Path]) -> None:
    """The 3-way merge needs every rendered blob in the first commit: the rendered .gitignore
    must not hide a rendered file, and the project is clean right after the first commit."""
    _, project = linked

    assert git(project, "status", "--porcelain", "--ignored") == ""
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["context"]["cookiecutter"]["package_name"] == PACKAGE
    assert cruft_cli(project, "check").returncode == 0
    # cruft renders the template again (hooks included) to compare: nothing may differ.
    drift = cruft_cli(project, "diff", "--exit-code")
    assert drift.returncode == 0, tail(drift)
    assert "diff --git" not in drift.stdout  # (the post-gen hook's message is printed)


def test_update_keeps_in_tree_edits_and_brings_template_changes(
    linked: tuple[Path, Path],
) -> None:
    template, project = linked

    # The team edits an adapter and commits.
    add_method_to_memory_backend(project / in_project(MEMORY_BACKEND))
    commit_all(project, "Team: a method of our own on MemoryBackend")

    # cruft diff shows the drift from the template: the team's edit.
    drift = cruft_cli(project, "diff")
    assert drift.returncode == 0, tail(drift)
    assert "team_label" in drift.stdout

    # The template moves: another part of the same file, another file, a new file.
    add_template_comment(template / in_template(MEMORY_BACKEND))
    with (template / PROJECT_TEMPLATE / "README.md").open("a") as readme:
        readme.write("\n## Added in template 0.1.1\n\nA section the template added later.\n")
    new_module = in_template(Path("adapters/persistence/memory/template_feature.py"))
    (template / new_module).write_text(TEMPLATE_NEW_MODULE)
    new_commit = commit_all(template, "Template 0.1.1")

    behind = cruft_cli(project, "check")
    assert behind.returncode != 0, "cruft check must notice that the template moved"

    run_update(project)

    module = (project / in_project(MEMORY_BACKEND)).read_text()
    assert "def team_label(self) -> str:" in module, "the team's edit was lost"
    assert TEMPLATE_COMMENT in module, "the template's change did not arrive"
    assert "## Added in template 0.1.1" in (project / "README.md").read_text()
    added = project / in_project(Path("adapters/persistence/memory/template_feature.py"))
    assert added.read_text() == TEMPLATE_NEW_MODULE
    assert rejected_hunk_files(project) == []
    assert unmerged_files(project) == []
    assert files_with_conflict_markers(project) == []
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit

    commit_all(project, "Update from the template")
    check = cruft_cli(project, "check")
    assert check.returncode == 0, tail(check)

    # The updated project still passes its gates and its unit tests.
    venv = bake_venv(project)
    failures = []
    for gate, command in GATES.items():
        result = run_tool(project, venv, command)
        if result.returncode != 0:
            failures.append(f"{gate}:\n{summary(result)}")
    result = run_tool(
        project, venv, ["python", "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/unit"]
    )
    if result.returncode != 0:
        failures.append(f"tests/unit:\n{tail(result, 60)}")
    assert failures == [], "\n\n".join(failures)


def summary(result: subprocess.CompletedProcess[str], limit: int = 40) -> str:
    """A failing gate's error lines (mypy's notes can run to thousands of lines) and its end."""
    lines = (result.stdout + result.stderr).splitlines()
    marks = ("error", "-->", "would reformat", "broken")
    errors = [line for line in lines if any(mark in line.lower() for mark in marks)]
    return "\n".join([*errors[:limit], *lines[-5:]])


def test_both_sides_on_the_same_lines_leave_conflict_markers(linked: tuple[Path, Path]) -> None:
    template, project = linked
    module = in_project(MEMORY_BACKEND)

    original = replace_first_line(project / module, '"""Memory backend, as our team words it.')
    commit_all(project, "Team: reword the module docstring")
    replace_first_line(template / in_template(MEMORY_BACKEND), '"""Memory backend, new wording.')
    with (template / PROJECT_TEMPLATE / "README.md").open("a") as readme:
        readme.write("\nA line the template added.\n")
    commit_all(template, "Template: reword the module docstring")

    result = run_update(project)

    text = (project / module).read_text()
    assert text.startswith(
        '<<<<<<< ours\n"""Memory backend, as our team words it.\n'
        '=======\n"""Memory backend, new wording.\n'
        ">>>>>>> theirs\n"
    ), text[:400]
    assert original not in text
    assert unmerged_files(project) == [str(module)]
    assert files_with_conflict_markers(project) == [module]
    assert rejected_hunk_files(project) == []
    output = result.stdout + result.stderr
    assert f"Applied patch to '{module}' with conflicts." in output
    # The hunks that do not conflict are applied as usual.
    assert "A line the template added." in (project / "README.md").read_text()


def test_without_the_render_as_first_commit_hunks_go_to_rej_files(tmp_path: Path) -> None:
    """The fallback when no 3-way merge is possible (here: the first commit was edited before
    committing): the template's hunk is kept in ``<file>.rej``, the team's text stays."""
    template = template_git_repo(tmp_path / "template")
    result = cruft_cli(
        tmp_path, "create", str(template), "--no-input", "--output-dir", str(tmp_path / "out")
    )
    assert result.returncode == 0, tail(result)
    project = tmp_path / "out" / "bookshelf-service"
    module = in_project(MEMORY_BACKEND)
    replace_first_line(project / module, '"""Edited before the first commit.')
    git(project, "init", "-q")
    commit_all(project, "Render the template, edited")
    replace_first_line(template / in_template(MEMORY_BACKEND), '"""Memory backend, new wording.')
    commit_all(template, "Template: reword the module docstring")

    result = run_update(project)

    assert rejected_hunk_files(project) == [Path(f"{module}.rej")]
    rejected = (project / f"{module}.rej").read_text()
    assert '+"""Memory backend, new wording.' in rejected
    assert (project / module).read_text().startswith('"""Edited before the first commit.\n')
    assert "Rejected hunk" in result.stdout + result.stderr


def test_changed_answer_flows_into_settings_and_env_example(linked: tuple[Path, Path]) -> None:
    _, project = linked
    assert default_answers()["repository_backend"] == "memory"

    run_update(project, "--variables-to-update", '{"repository_backend": "postgres"}')

    assert rejected_hunk_files(project) == []
    assert unmerged_files(project) == []
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["context"]["cookiecutter"]["repository_backend"] == "postgres"
    values, _ = read_env_file(project / ".env.example")
    assert values["REPO_DATABASE"] == "postgres"

    venv = bake_venv(project)
    probe = (
        f"from {PACKAGE}.settings import Settings; print(Settings(_env_file=None).repo_database)"
    )
    env = {"PATH": str(venv / "bin"), "PYTHONPATH": str(project / "src"), "HOME": str(project)}
    result = run_tool(project, venv, ["python", "-c", probe], env=env, timeout=120)
    assert result.returncode == 0, tail(result)
    assert result.stdout.strip() == "postgres"

    commit_all(project, "Default repository: postgres")
    check = cruft_cli(project, "check")
    assert check.returncode == 0, tail(check)


def test_skipped_paths_stay_the_projects(linked: tuple[Path, Path]) -> None:
    """``[tool.cruft] skip`` of the generated pyproject.toml: the lock file and the alembic
    history belong to the project; the template's changes to them are never applied."""
    template, project = linked
    (project / "uv.lock").write_text("# the team's lock file\n")
    commit_all(project, "Team: lock")
    migrations = sorted((project / "migrations" / "versions").glob("*.py"))
    before = {path: path.read_text() for path in migrations}
    assert before, "the template ships an initial migration"

    (template / PROJECT_TEMPLATE / "uv.lock").write_text("# the template's lock file\n")
    for path in (template / PROJECT_TEMPLATE / "migrations" / "versions").glob("*.py"):
        with path.open("a") as handle:
            handle.write("# changed by the template\n")
    with (template / PROJECT_TEMPLATE / "README.md").open("a") as readme:
        readme.write("\nA line the template added.\n")
    commit_all(template, "Template: a lock file and a changed migration")

    run_update(project)

    assert (project / "uv.lock").read_text() == "# the team's lock file\n"
    assert {path: path.read_text() for path in migrations} == before
    assert "A line the template added." in (project / "README.md").read_text()
    assert rejected_hunk_files(project) == []
    assert unmerged_files(project) == []


# --- where a team adds its own things (docs/upgrading.md, "Where to add your own things") ---

TEAM_FEATURE = '''"""A feature of the team's own: no entity yet."""

from __future__ import annotations

from ..adapters.persistence.registry import EntityRegistry
from .feature import Feature


def register(registry: EntityRegistry) -> None:
    """Nothing to register yet."""


NOTES = Feature("notes", register=register)
'''


def insert_after(path: Path, anchor: str, text: str) -> None:
    """Insert ``text`` after the first line that starts with ``anchor``."""
    lines = path.read_text().splitlines(keepends=True)
    (index,) = [i for i, line in enumerate(lines) if line.startswith(anchor)][:1]
    path.write_text("".join([*lines[: index + 1], text, *lines[index + 1 :]]))


def insert_before_closing(path: Path, opener: str, text: str) -> None:
    """Insert ``text`` before the ``]`` that closes the list opened by the line ``opener``
    (where ``uv add`` appends)."""
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index(opener + "\n")
    end = next(i for i in range(start, len(lines)) if lines[i] == "]\n")
    path.write_text("".join([*lines[:end], text, *lines[end:]]))


def test_the_teams_extension_points_merge_with_a_release(linked: tuple[Path, Path]) -> None:
    template, project = linked
    package = project / "src" / PACKAGE

    # The team: a setting, its variable, a dependency, a feature; each where the guide says.
    with (package / "service_settings.py").open("a") as settings:
        settings.write('\n    payments_url: str = "http://payments.local"\n')
    with (project / ".env.example").open("a") as env:
        env.write("PAYMENTS_URL=http://payments.local\n")
    insert_before_closing(project / "pyproject.toml", "dependencies = [", '    "tenacity>=8",\n')
    (package / "features" / "notes.py").write_text(TEAM_FEATURE)
    registrations = package / "registrations.py"
    notes_import = "from .features.notes import NOTES\n"
    insert_after(registrations, "from .features.library import", notes_import)
    text = registrations.read_text()
    text = text.replace("= (IDENTITY, LIBRARY)", "= (IDENTITY, LIBRARY, NOTES)")
    registrations.write_text(text)
    commit_all(project, "Team: a setting, a dependency, a feature")

    # A release: a kit setting and its variable in their sections, a dependency in the first
    # block, an edit elsewhere in registrations.py.
    source = template / PROJECT_TEMPLATE
    kit_settings = source / "src" / "{{cookiecutter.package_name}}" / "settings.py"
    insert_after(kit_settings, "    create_schema_on_startup:", "    template_flag: bool = False\n")
    insert_after(source / ".env.example", "CREATE_SCHEMA_ON_STARTUP=", "TEMPLATE_FLAG=false\n")
    insert_after(source / "pyproject.toml", '    "httpx>=', '    "anyio>=4",\n')
    template_registrations = source / "src" / "{{cookiecutter.package_name}}" / "registrations.py"
    replace_first_line(template_registrations, '"""The features this service runs (0.1.1).')
    commit_all(template, "Template 0.1.1: a setting, a dependency")

    run_update(project)

    assert unmerged_files(project) == []
    assert files_with_conflict_markers(project) == []
    assert rejected_hunk_files(project) == []
    pyproject = (project / "pyproject.toml").read_text()
    assert '"tenacity>=8"' in pyproject
    assert '"anyio>=4"' in pyproject
    assert "(IDENTITY, LIBRARY, NOTES)" in registrations.read_text()
    assert "(0.1.1)" in registrations.read_text()
    env = (project / ".env.example").read_text()
    assert "PAYMENTS_URL=" in env
    assert "TEMPLATE_FLAG=false" in env
    probe = run_tool(
        project,
        bake_venv(project),
        [
            "python",
            "-c",
            f"from {PACKAGE}.settings import Settings; "
            "s = Settings(_env_file='.env.example'); print(s.payments_url, s.template_flag)",
        ],
    )
    assert probe.stdout.split() == ["http://payments.local", "False"], tail(probe)


def test_two_additions_at_the_same_place_conflict(linked: tuple[Path, Path]) -> None:
    """Adjacent additions conflict even though neither side changed the other's lines."""
    template, project = linked
    with (project / "README.md").open("a") as readme:
        readme.write("\nA line the team added.\n")
    commit_all(project, "Team: a line at the end of the README")
    with (template / PROJECT_TEMPLATE / "README.md").open("a") as readme:
        readme.write("\nA line the template added.\n")
    commit_all(template, "Template: a line at the end of the README")

    run_update(project)

    assert unmerged_files(project) == ["README.md"]
    text = (project / "README.md").read_text()
    assert "A line the team added." in text
    assert "A line the template added." in text
