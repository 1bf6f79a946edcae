"""Every template version the docs name exists: recorded in the CHANGELOG with its commit, that
commit in this repository's history, and its ``vX.Y.Z`` tag (where the clone has tags) on it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import PROJECT_TEMPLATE, TEMPLATE_DIR

VERSION_HEADING = re.compile(r"^## (\d+\.\d+\.\d+)\s*$", re.MULTILINE)
RECORDED_COMMIT = re.compile(r"tag `v(\d+\.\d+\.\d+)`, commit `([0-9a-f]{40})`")
VERSION_REF = re.compile(r"(?<![\w.])v(\d+\.\d+\.\d+)\b")


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=TEMPLATE_DIR, capture_output=True, text=True, check=False
    )


def recorded_releases() -> dict[str, str]:
    changelog = (TEMPLATE_DIR / "CHANGELOG.md").read_text()
    headings = set(VERSION_HEADING.findall(changelog))
    recorded = dict(RECORDED_COMMIT.findall(changelog))
    assert headings == set(recorded), (
        f"every released version records its tag and commit: {sorted(headings ^ set(recorded))}"
    )
    return recorded


def documents() -> list[Path]:
    docs = [TEMPLATE_DIR / "README.md", TEMPLATE_DIR / "CHANGELOG.md"]
    docs += sorted((TEMPLATE_DIR / "docs").glob("*.md"))
    docs += sorted((TEMPLATE_DIR / PROJECT_TEMPLATE / "docs").glob("*.md"))
    return [*docs, TEMPLATE_DIR / PROJECT_TEMPLATE / "README.md"]


def test_every_version_the_docs_name_is_a_recorded_release() -> None:
    releases = recorded_releases()
    named = {
        f"v{version} in {path.relative_to(TEMPLATE_DIR)}"
        for path in documents()
        for version in VERSION_REF.findall(path.read_text())
        if version not in releases
    }
    assert named == set(), f"the docs name versions that were never released: {sorted(named)}"


def test_every_recorded_release_is_a_commit_of_this_repository_and_its_tag() -> None:
    releases = recorded_releases()
    assert releases, "no release is recorded"
    if git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        return  # a copy of the template without its history: only the records can be read
    shallow = git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    for version, commit in releases.items():
        if not shallow:
            found = git("cat-file", "-e", f"{commit}^{{commit}}")
            assert found.returncode == 0, f"{version}: commit {commit} is not in the history"
        tagged = git("rev-parse", "--verify", "--quiet", f"refs/tags/v{version}^{{commit}}")
        if tagged.returncode == 0:  # clones without tags cannot check this part
            assert tagged.stdout.strip() == commit, f"tag v{version} is not on {commit}"
