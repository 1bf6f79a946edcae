#!/usr/bin/env python3
"""Format the template's Python files with the generated project's own ruff settings.

Template files cannot be formatted in place (``{{cookiecutter.package_name}}`` is not Python),
so this bakes the template with a package name exactly as long as that placeholder, runs
``ruff check --fix`` and ``ruff format`` there, and copies each result back with the name
turned into the placeholder again. Because a rendered name is never longer than the
placeholder (pre_gen enforces it), every bake is then format-clean as rendered: what
``cruft update`` needs for clean 3-way merges.

Only files whose sole Jinja is the package-name placeholder are synced back; the report
lists the rest, to fix by hand. Usage: python scripts/format-template.py [--check]
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
PLACEHOLDER = "{{cookiecutter.package_name}}"
STAND_IN = "pkgxplaceholderxpackagexnamex"  # as long as PLACEHOLDER
assert len(STAND_IN) == len(PLACEHOLDER)
JINJA = re.compile(r"\{\{|\{%|\{#")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    parser.add_argument("paths", nargs="*", help="only files under these template paths")
    args = parser.parse_args()
    from cookiecutter.main import cookiecutter

    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(
            cookiecutter(
                str(ROOT),
                no_input=True,
                output_dir=tmp,
                extra_context={"project_name": "pkgx", "package_name": STAND_IN},
            )
        )
        ruff = shutil.which("ruff") or "ruff"
        subprocess.run([ruff, "check", "--fix", "--quiet", "."], cwd=out, check=False)
        subprocess.run([ruff, "format", "--quiet", "."], cwd=out, check=False)
        changed, manual = [], []
        for baked in sorted(out.rglob("*.py")):
            rel = baked.relative_to(out)
            source = TEMPLATE / str(rel).replace(STAND_IN, PLACEHOLDER)
            if not source.exists() or not _selected(source, args.paths):
                continue
            raw = source.read_text()
            formatted = baked.read_text().replace(STAND_IN, PLACEHOLDER)
            if raw == formatted:
                continue
            if JINJA.search(raw.replace(PLACEHOLDER, "")):
                manual.append(str(rel))
                continue
            changed.append(str(rel))
            if not args.check:
                source.write_text(formatted)
    for rel in changed:
        print(("would reformat " if args.check else "reformatted ") + rel)
    for rel in manual:
        print(f"needs a hand edit (other Jinja inside): {rel}")
    return 1 if (args.check and changed) or manual else 0


def _selected(source: pathlib.Path, paths: list[str]) -> bool:
    return not paths or any(
        str(source.resolve()).startswith(str(pathlib.Path(p).resolve())) for p in paths
    )


if __name__ == "__main__":
    sys.exit(main())
