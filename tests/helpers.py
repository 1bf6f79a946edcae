"""Bake the template and run tools inside baked projects.

Baked projects share ONE virtualenv per set of dependencies (the ``dependencies`` and the ``dev``
dependency group of the baked pyproject.toml), created once with uv under ``$TEMPLATE_BAKES_DIR``
(default ``./.venv-bakes``) and reused across runs. A tool runs with ``cwd`` = the bake and
``PYTHONPATH`` = its ``src``, so the package under test is always the baked one.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PROJECT_TEMPLATE = "{{cookiecutter.project_slug}}"
BAKES_DIR = Path(os.environ.get("TEMPLATE_BAKES_DIR", TEMPLATE_DIR / ".venv-bakes")).resolve()

# Junk a developer's template tree may hold that is never part of the template.
JUNK = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".venv", "*.pyc", ".env")


def is_junk(rel: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in JUNK)


# Leftover Jinja in a rendered file or path: an opening tag or a ``cookiecutter.`` variable.
# ``${{ ... }}`` (GitHub Actions) and ``${#x}`` (shell) are not Jinja.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|(?<!\$)\{#|\bcookiecutter\.(?!json\b)[a-z_]+")


def load_choices() -> dict[str, object]:
    data: dict[str, object] = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    return data


def answers_of(combination: Mapping[str, str]) -> dict[str, str]:
    """The full answers a combination bakes with (defaults filled in, names derived)."""
    answers = {**default_answers(), **combination}
    answers.setdefault("project_name", str(load_choices()["project_name"]))
    slug = answers.get("project_slug") or answers["project_name"].lower().strip().replace(
        " ", "-"
    ).replace("_", "-")
    answers["project_slug"] = slug
    answers.setdefault("package_name", slug.replace("-", "_"))
    return answers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_answers() -> dict[str, str]:
    """The answers ``--no-input`` gives for every question that is a choice list."""
    return {k: v[0] for k, v in load_choices().items() if isinstance(v, list) and k[0] != "_"}


# --------------------------------------------------------------------------------------------
# baking


def template_files(template_dir: Path = TEMPLATE_DIR) -> list[Path]:
    """Relative paths of the template's files: git's view (tracked + new, not ignored)."""
    if (template_dir / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=template_dir,
            check=True,
            capture_output=True,
        ).stdout.decode()
        paths = [Path(p) for p in listed.split("\0") if p]
        return sorted(p for p in paths if (template_dir / p).is_file() and not is_junk(p))
    return sorted(
        p.relative_to(template_dir)
        for p in template_dir.rglob("*")
        if p.is_file() and ".git" not in p.parts and not is_junk(p.relative_to(template_dir))
    )


def copy_template(dest: Path, source: Path = TEMPLATE_DIR) -> Path:
    """A clean copy of the template (no caches, venvs or build output) at ``dest``."""
    for rel in template_files(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    return dest


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Template Tests",
        "GIT_AUTHOR_EMAIL": "tests@example.com",
        "GIT_COMMITTER_NAME": "Template Tests",
        "GIT_COMMITTER_EMAIL": "tests@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    result = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def template_git_repo(dest: Path, source: Path = TEMPLATE_DIR) -> Path:
    """The template's current files (uncommitted edits included) as a one-commit git repo."""
    copy_template(dest, source)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "template under test")
    return dest


def bake(template: Path, output_dir: Path, **answers: str) -> Path:
    """Generate a project with cookiecutter's Python API; returns the project directory."""
    output_dir.mkdir(parents=True, exist_ok=True)
    project = cookiecutter(
        str(template),
        no_input=True,
        extra_context=dict(answers),
        output_dir=str(output_dir),
        default_config=True,
    )
    return Path(project)


def project_files(project: Path) -> list[Path]:
    return sorted(
        p.relative_to(project)
        for p in project.rglob("*")
        if p.is_file() and not is_junk(p.relative_to(project))
    )


def leftover_jinja(project: Path) -> list[str]:
    """Every path or text line of ``project`` that still holds template syntax."""
    found: list[str] = []
    for rel in project_files(project):
        if UNRENDERED.search(str(rel)):
            found.append(f"path {rel}")
        try:
            text = (project / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files are copied, never rendered
        for number, line in enumerate(text.splitlines(), start=1):
            if UNRENDERED.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """``KEY=value`` lines of a .env file, and the keys only shown commented out (``# KEY=``)."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if not match:
            continue
        if match.group(1):
            commented.add(match.group(2))
        else:
            values[match.group(2)] = match.group(3)
    return values, commented


# --------------------------------------------------------------------------------------------
# the baked projects' shared virtualenv


def project_requirements(project: Path) -> list[str]:
    data = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = list(data["project"]["dependencies"])
    for item in data.get("dependency-groups", {}).get("dev", []):
        if isinstance(item, str):
            requirements.append(item)
    return requirements


def uv_command() -> list[str]:
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found:
        return [found]
    raise RuntimeError("uv is needed to build the baked projects' virtualenv: pip install uv")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (pytest-xdist workers share the venv directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def python_version_of(python: str) -> tuple[str, str]:
    """(``sys.version``, ``"3.12"``) of another interpreter."""
    probe = subprocess.run(
        [python, "-c", "import sys; print(sys.version); print('%d.%d' % sys.version_info[:2])"],
        check=True,
        capture_output=True,
        text=True,
    )
    full, short = probe.stdout.strip().splitlines()
    return full, short


def find_python(version: str) -> str | None:
    """An interpreter for ``version`` ("3.12"), found without a machine-specific path:
    ``TEMPLATE_PYTHON_<3_12>``, ``python3.12`` on PATH, pyenv, then uv."""
    candidates = [os.environ.get(f"TEMPLATE_PYTHON_{version.replace('.', '_')}")]
    candidates.append(shutil.which(f"python{version}"))
    if shutil.which("pyenv"):
        prefix = subprocess.run(
            ["pyenv", "prefix", version], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(str(Path(prefix.splitlines()[0]) / "bin" / "python") if prefix else None)
    found = subprocess.run(
        [*uv_command(), "python", "find", version], capture_output=True, text=True, check=False
    )
    candidates.append(found.stdout.strip() or None)
    for candidate in candidates:
        if not candidate:
            continue
        try:
            if python_version_of(candidate)[1] == version:
                return candidate
        except (OSError, subprocess.CalledProcessError, ValueError):
            continue
    return None


def bake_venv(project: Path, python: str | None = None) -> Path:
    """The virtualenv holding ``project``'s dependencies; built once per dependency set and
    interpreter (``python``: another one than the tests' own).

    ``TEMPLATE_BAKE_VENV`` points at an existing environment to use as is (a developer's
    shortcut); otherwise it lives in ``$TEMPLATE_BAKES_DIR/py<version>-<hash>``.
    """
    given = os.environ.get("TEMPLATE_BAKE_VENV")
    if given and python is None:
        return Path(given).resolve()
    interpreter = python or sys.executable
    full_version, short_version = (
        python_version_of(python)
        if python
        else (sys.version, f"{sys.version_info.major}.{sys.version_info.minor}")
    )
    requirements = sorted(project_requirements(project))
    key = json.dumps([full_version, requirements]).encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    venv = BAKES_DIR / f"py{short_version.replace('.', '')}-{digest}"
    done = venv / ".complete"
    with locked(BAKES_DIR / ".lock"):
        if done.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        uv = uv_command()
        subprocess.run(
            [*uv, "venv", "--quiet", "--python", interpreter, str(venv)],
            check=True,
            capture_output=True,
        )
        install = subprocess.run(
            [
                *uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                *requirements,
            ],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            raise RuntimeError(f"installing {requirements} failed:\n{install.stderr}")
        done.write_text("\n".join(requirements) + "\n")
    return venv


def tool_env(project: Path, venv: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def run_tool(
    project: Path,
    venv: Path,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (its first word found in the venv's bin) in the baked project."""
    executable = venv / "bin" / command[0]
    argv = [str(executable) if executable.exists() else command[0], *command[1:]]
    return subprocess.run(
        argv,
        cwd=project,
        env=dict(env) if env is not None else tool_env(project, venv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tail(result: subprocess.CompletedProcess[str], lines: int = 120) -> str:
    out = (result.stdout + result.stderr).splitlines()
    return "\n".join(out[-lines:])


# --------------------------------------------------------------------------------------------
# cruft: projects linked to a template repository, and their updates

# The gates a team runs in a baked project (the generated CI runs the same commands).
GATES: dict[str, list[str]] = {
    "ruff-check": ["ruff", "check", "--no-cache", "."],
    "ruff-format": ["ruff", "format", "--check", "--no-cache", "."],
    "mypy": ["mypy", "--cache-dir", str(BAKES_DIR / "mypy-cache")],
    "lint-imports": ["lint-imports", "--no-cache"],
}


def commit_all(repo: Path, message: str) -> str:
    """Stage everything (new, changed, deleted, unmerged) and commit; returns the commit id."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def cruft_cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """cruft's command line, as a team types it, run by this interpreter (never prompts)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        GIT_AUTHOR_NAME="Template Tests",
        GIT_AUTHOR_EMAIL="tests@example.com",
        GIT_COMMITTER_NAME="Template Tests",
        GIT_COMMITTER_EMAIL="tests@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "cruft", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cruft_project(template_repo: Path, output_dir: Path, **answers: str) -> Path:
    """``cruft create --no-input`` from a template git repo, then ``git init`` and commit the
    render as is (what the generated README asks for); returns the project directory."""
    output_dir.mkdir(parents=True, exist_ok=True)
    args = ["create", str(template_repo), "--no-input", "--output-dir", str(output_dir)]
    if answers:
        args += ["--extra-context", json.dumps(answers)]
    result = cruft_cli(output_dir, *args)
    if result.returncode != 0:
        raise RuntimeError(f"cruft create failed:\n{tail(result)}")
    (project,) = [p for p in output_dir.iterdir() if p.is_dir()]
    git(project, "init", "-q")
    commit_all(project, "Render the template")
    return project


def unmerged_files(repo: Path) -> list[str]:
    """Paths git holds as conflicted (what ``git apply -3`` leaves after a conflicting hunk)."""
    return git(repo, "diff", "--name-only", "--diff-filter=U").split()


def rejected_hunk_files(project: Path) -> list[Path]:
    """``*.rej`` files (what ``git apply --reject`` leaves when no 3-way merge is possible)."""
    return sorted(p.relative_to(project) for p in project.rglob("*.rej") if ".git" not in p.parts)


CONFLICT_MARKERS = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


def files_with_conflict_markers(project: Path) -> list[Path]:
    found = []
    for rel in project_files(project):
        if ".git" in rel.parts:
            continue
        try:
            text = (project / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if CONFLICT_MARKERS.search(text):
            found.append(rel)
    return found
