"""Print the next steps. Nothing else.

``cruft update`` re-runs this hook on two renders of the template, so it must not touch the
project: no git, no installs, no files written or removed, no random values.
"""

from __future__ import annotations

NEXT_STEPS = """
Generated {{ cookiecutter.project_slug }} (package {{ cookiecutter.package_name }}).

Next steps:
  cd {{ cookiecutter.project_slug }}
  git init && git add -A && git commit -m "Render the template"  # commit the render as is
  uv sync  # needs Python {{ cookiecutter.python_version }} or newer
  uv run uvicorn {{ cookiecutter.package_name }}.main:create_app --factory --reload
  uv run pytest

Defaults: REPO_DATABASE={{ cookiecutter.repository_backend }}, \
STORAGE_BACKEND={{ cookiecutter.storage_backend }}, \
IDENTITY_BACKEND={{ cookiecutter.identity_backend }} (see .env.example).
"""


def main() -> None:
    print(NEXT_STEPS)


if __name__ == "__main__":
    main()
