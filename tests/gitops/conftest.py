"""Fixtures of the GitOps tests: real git servers on loopback (see `gitops.gitservers`)."""

from gitops.gitservers import git_daemon, git_http, source_repo

__all__ = ["git_daemon", "git_http", "source_repo"]
