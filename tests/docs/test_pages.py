"""The documentation site: nothing documented before it was lost, it builds with no broken link or anchor, it
names only repository files that exist, and the release publishes it."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from docs.doc_pages import REPO, blocks, headings, pages

BEFORE = json.loads((Path(__file__).parent / "headings_before_the_site.json").read_text())
REPO_PATH = re.compile(r"`((?:argocd|bench|crds|examples|monitoring|operator|runtime|scripts|tests)/[\w./-]*)`")


def test_every_heading_of_the_docs_before_the_site_is_still_a_heading() -> None:
    """The README was a 680-line manual; its sections moved into docs pages, each keeping its heading."""
    now = {heading for page in pages() for heading in headings(page.read_text())}
    lost = sorted(set(BEFORE["headings"]) - now)
    assert not lost, f"headings of {BEFORE['commit'][:7]} no page has any more: {lost}"


def test_headings_and_blocks_are_read_as_markdown_renders_them(tmp_path: Path) -> None:
    """A `#` line inside a fence is code, not a heading; a fence in a list item is dedented; the excerpt marker is
    the line right before a fence."""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```bash\n# a comment\n```\n\n- item:\n\n  ```yaml\n  a: 1\n  ```\n\n"
                    "<!-- excerpt -->\n```python\nx = 1\n```\n\n## Closed ##\n")
    assert headings(page.read_text()) == ["Title", "Closed"]
    assert [(b.line, b.lang, b.text, b.excerpt) for b in blocks(page)] == [
        (3, "bash", "# a comment\n", False), (9, "yaml", "a: 1\n", False), (14, "python", "x = 1\n", True)]


def test_the_readme_is_a_landing_page() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 160, "the README links into docs/ instead of holding the manual"
    linked = set(re.findall(r"\]\((docs/[\w/.-]+\.md)", readme))
    for link in linked:
        assert (REPO / link).is_file(), f"README.md links {link}"
    assert {"docs/local.md", "docs/cluster.md", "docs/predictors.md", "docs/reference/predictorapi.md"} <= linked


def test_site_builds_strict(tmp_path: Path) -> None:
    """mkdocs.yml turns a broken link or anchor, and a page left out of the navigation, into a warning; --strict
    fails on any warning."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                             str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                            capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    built = sorted(p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html"))
    docs = REPO / "docs"
    wanted = sorted("index.html" if p.name == "index.md" else p.relative_to(docs).with_suffix("").as_posix()
                    + "/index.html" for p in docs.rglob("*.md"))
    assert set(wanted) <= set(built), "every page of docs/ is a page of the site"


def test_docs_name_only_repository_files_that_exist() -> None:
    """Paths in backticks (`monitoring/rules/...`, `examples/s3-model`) name files of this repository; placeholders
    in capitals (`examples/NAME`) and globs are not paths."""
    missing = []
    for page in pages():
        for path in set(REPO_PATH.findall(page.read_text())):
            if re.search(r"[A-Z*]|\.\.\.", path) or path.endswith("."):
                continue
            if not (REPO / path.rstrip("/")).exists():
                missing.append(f"{page.relative_to(REPO)}: {path}")
    assert not missing, missing


def _job_with_step(jobs: dict[str, Any], found: Callable[[dict[str, Any]], bool]) -> str:
    (name,) = [name for name, job in jobs.items() if any(found(step) for step in job.get("steps", []))]
    return name


def test_release_publishes_the_site_to_pages() -> None:
    """On a version tag: one job builds the site strictly and uploads it, the next deploys it to GitHub Pages."""
    release = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    assert release[True]["push"]["tags"] == ["v*.*.*"]  # YAML 1.1 reads the key `on` as True
    jobs = release["jobs"]
    build = _job_with_step(jobs, lambda step: "mkdocs build --strict" in step.get("run", ""))
    upload = _job_with_step(jobs, lambda step: step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    deploy = _job_with_step(jobs, lambda step: step.get("uses", "").startswith("actions/deploy-pages@"))
    assert build == upload and build in jobs[deploy]["needs"]
    assert jobs[deploy]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs[deploy]["environment"]["name"] == "github-pages"


def test_release_installs_the_mkdocs_the_tests_build_with() -> None:
    """The release builds the site with the requirements of the test extra, which tests/docs runs under."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    release = (REPO / ".github" / "workflows" / "release.yml").read_text()
    (line,) = [line for line in release.splitlines() if "pip install" in line and "mkdocs" in line]
    assert sorted(a for a in shlex.split(line) if a.startswith("mkdocs")) == sorted(r for r in extra
                                                                                     if r.startswith("mkdocs"))
