"""The repository the `predictorapi fetch` tests fetch, and its loopback git servers (see `support.gitservers`):

* `git daemon` (git://, anonymous) serving a bare repository;
* `git http-backend` behind a tiny threaded HTTP server that demands Basic auth (the https-token case);
* a second such server on another loopback address (127.0.0.2, another host to git) that records every
  `Authorization` header it is sent, behind a server on 127.0.0.1 that redirects every request to it.

Both serve the same repository, built once per session: two commits on `main`, an annotated tag
`v1` and a lightweight tag `v1-light` on the first, a branch `feature`, predictor code in
`models/echo/` and nothing else in the root but a README.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.gitservers import (
    GIT_ENV,
    TOKEN,
    USERNAME,
    OtherHost,
    git,
    git_daemon_server,
    git_http_server,
    other_host_server,
    redirect_server,
    wait_listening,
)
from support.packages import git_commit
from support.processes import free_port

__all__ = ["GIT_ENV", "TOKEN", "USERNAME", "OtherHost", "SourceRepo", "free_port", "git", "git_daemon", "git_http",
           "other_host_server", "redirect_server", "source_repo", "wait_listening"]


@dataclass(frozen=True)
class SourceRepo:
    """The served repository: its folder under the servers' root and its commits."""

    root: Path
    name: str
    first: str
    second: str
    feature: str


@pytest.fixture(scope="session")
def source_repo(tmp_path_factory: pytest.TempPathFactory) -> SourceRepo:
    base = tmp_path_factory.mktemp("git")
    work, root = base / "work", base / "served"
    work.mkdir()
    root.mkdir()
    git(work, "init", "-q", "-b", "main")
    first = git_commit(work, {"README.md": "models\n", "models/echo/predictor.py": "VERSION = 1\n",
                           "models/echo/predictorapi.yaml": "kind: PredictorAPI\n"}, "first")
    git(work, "tag", "-a", "v1", "-m", "release 1")
    git(work, "tag", "v1-light")
    second = git_commit(work, {"models/echo/predictor.py": "VERSION = 2\n"}, "second")
    git(work, "checkout", "-q", "-b", "feature", first)
    feature = git_commit(work, {"models/echo/predictor.py": "VERSION = 'feature'\n"}, "feature")
    git(work, "checkout", "-q", "main")
    git(base, "clone", "-q", "--bare", str(work), str(root / "models.git"))
    return SourceRepo(root=root, name="models.git", first=first, second=second, feature=feature)


@pytest.fixture(scope="session")
def git_daemon(source_repo: SourceRepo) -> Iterator[str]:
    """`git://127.0.0.1:PORT/` serving the source repository (anonymous, read-only)."""
    with git_daemon_server(source_repo.root) as url:
        yield url


@pytest.fixture(scope="session")
def git_http(source_repo: SourceRepo) -> Iterator[str]:
    """`http://127.0.0.1:PORT/` serving the source repository to `alice` with TOKEN only."""
    with git_http_server(source_repo.root) as url:
        yield url
