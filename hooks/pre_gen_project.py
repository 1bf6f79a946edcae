"""Validate the answers before anything is generated.

Cookiecutter renders this file with the answers, then runs it. It must stay deterministic and
free of side effects: ``cruft update`` runs it again on every update. No git, no network, no
installs, no random values.

On a bad answer it prints every problem to stderr and exits 1, so cookiecutter stops and removes
the output directory it had just created.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# The whole cookiecutter context as JSON, in a raw string: no answer can break this file.
ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

PYTHON_VERSIONS = ("3.12", "3.13", "3.14")
CHOICES = {
    "repository_backend": ("memory", "postgres", "mongo", "dynamodb"),
    "storage_backend": ("local", "s3"),
    "identity_backend": ("repository", "memory", "cognito"),
}

SLUG_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[^@\s\"'\\]+@[^@\s\"'\\]+\.[^@\s\"'\\]+$")

# Names the package must not take: it would shadow a dependency or a tool, a test package, or a
# layer of the package itself (``domain.domain`` would confuse the import contracts).
TOOLING = """
    test tests testing conftest setup src build dist docs migrations benchmarks scripts hooks
    pytest _pytest pytest_asyncio ruff mypy importlinter hatchling moto mongoeco cookiecutter
    cruft pip uv setuptools wheel
"""
DEPENDENCIES = """
    fastapi starlette uvicorn pydantic pydantic_core pydantic_settings dependency_injector
    sqlalchemy asyncpg alembic pymongo bson gridfs motor aioboto3 aiobotocore boto3 botocore
    s3transfer jwt argon2 cryptography httpx httpcore anyio sniffio h11 idna certifi
    typing_extensions annotated_types dotenv click yaml mako greenlet types_aioboto3
"""
LAYERS = "domain application ports adapters settings container main app"
RESERVED_PACKAGE_NAMES = frozenset(f"{TOOLING} {DEPENDENCIES} {LAYERS}".split())

# A short list for a cookiecutter running on Python < 3.10 (no sys.stdlib_module_names).
COMMON_STDLIB = """
    abc argparse array ast asyncio base64 collections concurrent contextlib copy csv dataclasses
    datetime decimal email enum functools glob hashlib html http importlib inspect io json
    logging math operator os pathlib pickle platform queue random re secrets select shutil
    signal socket sqlite3 ssl string struct subprocess tempfile threading time tomllib types
    typing unittest urllib uuid warnings weakref xml zipfile zoneinfo
"""

# Rendered inside TOML and Python string literals: they must stay plain text.
FREE_TEXT = ("project_name", "description", "author_name")


def stdlib_names() -> frozenset[str]:
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return frozenset(names)
    return frozenset(sys.builtin_module_names) | frozenset(COMMON_STDLIB.split())


# A rendered name never longer than its placeholder keeps every rendered line within the line
# length the template was formatted at, so each bake is ruff-format clean as rendered.
# (This file is rendered too, so the placeholders' lengths are written out: 29 and 31.)
MAX_PACKAGE_NAME = 29  # len of the package-name placeholder as the template's code spells it
MAX_SLUG = 31  # len of the slug placeholder as settings.py spells it


def check_slug(slug: str) -> str | None:
    if len(slug) > MAX_SLUG:
        return f"project_slug {slug!r} is too long: at most {MAX_SLUG} characters."
    if SLUG_RE.match(slug):
        return None
    return (
        f"project_slug {slug!r} is not valid: use lowercase letters, digits and single hyphens, "
        "start with a letter and do not end with a hyphen (e.g. 'bookshelf-service')."
    )


def check_package(name: str) -> str | None:
    if len(name) > MAX_PACKAGE_NAME:
        return f"package_name {name!r} is too long: at most {MAX_PACKAGE_NAME} characters."
    if not (name.isidentifier() and PACKAGE_RE.match(name)):
        return (
            f"package_name {name!r} is not a valid Python package name: use lowercase letters, "
            "digits and underscores, starting with a letter (e.g. 'bookshelf_service')."
        )
    if keyword.iskeyword(name):
        return f"package_name {name!r} is a Python keyword; choose another name."
    if name in stdlib_names():
        return (
            f"package_name {name!r} is a module of Python's standard library and would shadow "
            "it; choose another name."
        )
    if name in RESERVED_PACKAGE_NAMES:
        return (
            f"package_name {name!r} is reserved (a dependency, a tool, a test package or a layer "
            "of the generated package); choose another name."
        )
    return None


def check_python_version(version: str) -> str | None:
    if version in PYTHON_VERSIONS:
        return None
    return (
        f"python_version {version!r} is not supported: choose one of {', '.join(PYTHON_VERSIONS)}."
    )


def check_choice(key: str, value: str) -> str | None:
    allowed = CHOICES[key]
    if value in allowed:
        return None
    return f"{key} {value!r} is not one of: {', '.join(allowed)}."


def check_email(email: str) -> str | None:
    if EMAIL_RE.match(email):
        return None
    return f"author_email {email!r} does not look like an email address (name@example.com)."


def check_free_text(key: str, value: str) -> str | None:
    if not value.strip():
        return f"{key} must not be empty."
    if '"' in value or "\\" in value or not value.isprintable():
        return (
            f"{key} {value!r} must be plain text on one line, without double quotes or "
            "backslashes (it is written into pyproject.toml and Python strings)."
        )
    return None


def validate(answers: dict[str, object]) -> list[str]:
    def answer(key: str) -> str:
        return str(answers.get(key, ""))

    found = [
        check_slug(answer("project_slug")),
        check_package(answer("package_name")),
        check_python_version(answer("python_version")),
        *(check_choice(key, answer(key)) for key in CHOICES),
        check_email(answer("author_email")),
        *(check_free_text(key, answer(key)) for key in FREE_TEXT),
    ]
    return [problem for problem in found if problem is not None]


def main() -> int:
    problems = validate(ANSWERS)
    if not problems:
        return 0
    print("ERROR: the template's answers are not valid:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    print("Nothing was generated. Fix the answers and run the command again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
