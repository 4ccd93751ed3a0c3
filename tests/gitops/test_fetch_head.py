"""`predictorapi fetch --revision HEAD`: the remote's default branch, as its help ("or ref") says."""

from __future__ import annotations

from pathlib import Path

from gitops.gitservers import SourceRepo

from .test_fetch import REVISION_FILE, run_fetch


def test_head_is_the_default_branch(tmp_path: Path, git_daemon: str, source_repo: SourceRepo) -> None:
    dest = tmp_path / "code"
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", "HEAD",
                       "--path", "models/echo", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    assert (dest / REVISION_FILE).read_text().strip() == source_repo.second  # the tip of main
