"""`predictorapi fetch` against real git servers on loopback (git daemon, git http-backend)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gitops.gitservers import TOKEN, USERNAME, SourceRepo, free_port, other_host_server, redirect_server

from predictorapi.gitfetch import redact_url

REVISION_FILE = ".predictorapi-revision"


def run_fetch(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, its termination log at tmp_path/termination-log."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTORAPI_")}
    base["PREDICTORAPI_TERMINATION_LOG"] = str(tmp_path / "termination-log")
    return subprocess.run([sys.executable, "-m", "predictorapi.cli", "fetch", *args], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=120)


def termination_message(tmp_path: Path) -> str:
    return (tmp_path / "termination-log").read_text()


def assert_one_line_failure(result: subprocess.CompletedProcess, tmp_path: Path, reason: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{reason}: "), lines[0]
    assert termination_message(tmp_path) == lines[0]
    return lines[0]


def assert_no_secret(tmp_path: Path, *texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "token":
            assert TOKEN.encode() not in path.read_bytes(), f"token written to {path}"


# --- success ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "revision,expected,version",
    [
        ("main", "second", "2"),
        ("refs/heads/main", "second", "2"),
        ("feature", "feature", "'feature'"),
        ("v1", "first", "1"),  # annotated tag: peeled to its commit
        ("v1-light", "first", "1"),
        ("FULL", "first", "1"),  # full SHA of a commit that is no branch tip
        ("SHORT", "first", "1"),
    ],
)
def test_checks_out_exactly_the_revision(
    tmp_path: Path, git_daemon: str, source_repo: SourceRepo, revision: str, expected: str, version: str
) -> None:
    sha = getattr(source_repo, expected)
    revision = {"FULL": source_repo.first, "SHORT": source_repo.first[:8]}.get(revision, revision)
    dest = tmp_path / "code"
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", revision,
                       "--path", "models/echo", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 1 and sha in result.stdout
    assert (dest / "predictor.py").read_text() == f"VERSION = {version}\n"
    assert sorted(p.name for p in dest.iterdir()) == [REVISION_FILE, "predictor.py", "predictorapi.yaml"]
    assert (dest / REVISION_FILE).read_text() == sha + "\n"
    assert termination_message(tmp_path) == sha


def test_root_path_keeps_the_whole_tree_without_dot_git(tmp_path: Path, git_daemon: str,
                                                        source_repo: SourceRepo) -> None:
    dest = tmp_path / "code"
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", "main", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in dest.iterdir()) == [REVISION_FILE, "README.md", "models"]
    assert (dest / "models" / "echo" / "predictor.py").is_file()


def test_configured_by_environment_like_the_init_container(tmp_path: Path, git_daemon: str,
                                                          source_repo: SourceRepo) -> None:
    dest = tmp_path / "srv-code"
    env = {"PREDICTORAPI_GIT_REPO": git_daemon + source_repo.name, "PREDICTORAPI_GIT_REVISION": "v1",
           "PREDICTORAPI_GIT_PATH": "models/echo/", "PREDICTORAPI_GIT_DEST": str(dest)}
    result = run_fetch(tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (dest / REVISION_FILE).read_text().strip() == source_repo.first


def test_a_restarted_init_container_replaces_its_earlier_checkout(tmp_path: Path, git_daemon: str,
                                                                 source_repo: SourceRepo) -> None:
    dest = tmp_path / "code"
    repo = git_daemon + source_repo.name
    assert run_fetch(tmp_path, "--repo", repo, "--revision", "main", "--dest", str(dest)).returncode == 0
    result = run_fetch(tmp_path, "--repo", repo, "--revision", "v1", "--path", "models/echo", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in dest.iterdir()) == [REVISION_FILE, "predictor.py", "predictorapi.yaml"]


def test_refuses_a_destination_holding_something_else(tmp_path: Path, git_daemon: str,
                                                      source_repo: SourceRepo) -> None:
    dest = tmp_path / "home"
    dest.mkdir()
    (dest / "precious.txt").write_text("keep me")
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", "main", "--dest", str(dest))
    assert_one_line_failure(result, tmp_path, "DestinationNotEmpty")
    assert (dest / "precious.txt").read_text() == "keep me"


# --- failures: one line, non-zero, also the termination message ------------------------------------


def test_unreachable_repository(tmp_path: Path) -> None:
    url = f"git://127.0.0.1:{free_port()}/models.git"  # nothing listens there
    result = run_fetch(tmp_path, "--repo", url, "--revision", "main", "--dest", str(tmp_path / "c"))
    line = assert_one_line_failure(result, tmp_path, "RepositoryUnreachable")
    assert url in line


def test_unknown_repository(tmp_path: Path, git_daemon: str) -> None:
    result = run_fetch(tmp_path, "--repo", git_daemon + "nope.git", "--revision", "main", "--dest", str(tmp_path / "c"))
    assert_one_line_failure(result, tmp_path, "RepositoryNotFound")


def test_unsupported_url(tmp_path: Path) -> None:
    result = run_fetch(tmp_path, "--repo", "gopher://example.invalid/x.git", "--revision", "main",
                       "--dest", str(tmp_path / "c"))
    assert_one_line_failure(result, tmp_path, "InvalidRepositoryURL")


@pytest.mark.parametrize("revision", ["v9", "no-such-branch", "0123456789abcdef0123456789abcdef01234567", "abcdef12"])
def test_unknown_revision(tmp_path: Path, git_daemon: str, source_repo: SourceRepo, revision: str) -> None:
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", revision,
                       "--dest", str(tmp_path / "c"))
    line = assert_one_line_failure(result, tmp_path, "RevisionNotFound")
    assert repr(revision) in line


def test_missing_path(tmp_path: Path, git_daemon: str, source_repo: SourceRepo) -> None:
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", "main",
                       "--path", "models/nope", "--dest", str(tmp_path / "c"))
    line = assert_one_line_failure(result, tmp_path, "PathNotFound")
    assert "'models/nope'" in line and source_repo.second in line


@pytest.mark.parametrize("path", ["../etc", "/etc", "models/../../x"])
def test_path_must_stay_inside_the_repository(tmp_path: Path, git_daemon: str, source_repo: SourceRepo,
                                              path: str) -> None:
    result = run_fetch(tmp_path, "--repo", git_daemon + source_repo.name, "--revision", "main",
                       "--path", path, "--dest", str(tmp_path / "c"))
    assert_one_line_failure(result, tmp_path, "InvalidPath")


def test_missing_settings(tmp_path: Path) -> None:
    result = run_fetch(tmp_path, "--dest", str(tmp_path / "c"))
    assert result.returncode == 2
    assert_one_line_failure(result, tmp_path, "InvalidRequest")


# --- https with a token ----------------------------------------------------------------------------


def credentials(tmp_path: Path, token: str, username: str | None = USERNAME) -> Path:
    folder = tmp_path / "git-credentials"
    folder.mkdir()
    (folder / "token").write_text(token + "\n")  # Secrets created from files often end with a newline
    if username is not None:
        (folder / "username").write_text(username)
    return folder


# The loopback servers speak plain http, so these tests allow it (https is the same code path in git).
INSECURE = "--allow-insecure-http"


def test_https_token(tmp_path: Path, git_http: str, source_repo: SourceRepo) -> None:
    dest = tmp_path / "code"
    result = run_fetch(tmp_path, "--repo", git_http + source_repo.name, "--revision", "v1", "--path", "models/echo",
                       "--dest", str(dest), "--credentials-dir", str(credentials(tmp_path, TOKEN)), INSECURE)
    assert result.returncode == 0, result.stderr
    assert (dest / REVISION_FILE).read_text().strip() == source_repo.first
    assert_no_secret(tmp_path, result.stdout, result.stderr)


def test_https_wrong_token(tmp_path: Path, git_http: str, source_repo: SourceRepo) -> None:
    wrong = TOKEN + "-wrong"
    result = run_fetch(tmp_path, "--repo", git_http + source_repo.name, "--revision", "main",
                       "--dest", str(tmp_path / "c"), "--credentials-dir", str(credentials(tmp_path, wrong)),
                       INSECURE)
    line = assert_one_line_failure(result, tmp_path, "AuthenticationFailed")
    assert wrong not in line and wrong not in result.stdout
    assert_no_secret(tmp_path, result.stdout, result.stderr)


def test_https_without_credentials_never_prompts(tmp_path: Path, git_http: str, source_repo: SourceRepo) -> None:
    result = run_fetch(tmp_path, "--repo", git_http + source_repo.name, "--revision", "main",
                       "--dest", str(tmp_path / "c"))
    assert_one_line_failure(result, tmp_path, "AuthenticationFailed")


def test_credentials_in_the_url_are_never_shown(tmp_path: Path, git_http: str, source_repo: SourceRepo) -> None:
    url = git_http.replace("http://", f"http://{USERNAME}:{TOKEN}-in-url@") + source_repo.name
    result = run_fetch(tmp_path, "--repo", url, "--revision", "main", "--dest", str(tmp_path / "c"), INSECURE)
    line = assert_one_line_failure(result, tmp_path, "AuthenticationFailed")
    assert f"{TOKEN}-in-url" not in line and "***@" in line


def test_a_relative_credentials_dir_is_resolved(tmp_path: Path, git_http: str, source_repo: SourceRepo) -> None:
    credentials(tmp_path, TOKEN)
    result = run_fetch(tmp_path, "--repo", git_http + source_repo.name, "--revision", "main", "--dest", "code",
                       "--credentials-dir", "git-credentials", INSECURE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "code" / REVISION_FILE).read_text().strip() == source_repo.second


@pytest.mark.parametrize("secret", ["token-file", "url-password"])
def test_plain_http_with_credentials_is_refused_unless_allowed(tmp_path: Path, source_repo: SourceRepo,
                                                               secret: str) -> None:
    with other_host_server(source_repo.root) as server:
        url = server.url + source_repo.name
        args = ["--revision", "main", "--dest", str(tmp_path / "c")]
        if secret == "token-file":
            args += ["--repo", url, "--credentials-dir", str(credentials(tmp_path, TOKEN))]
        else:
            args += ["--repo", url.replace("http://", f"http://{USERNAME}:{TOKEN}@")]
        result = run_fetch(tmp_path, *args)
        line = assert_one_line_failure(result, tmp_path, "InsecureTransport")
        assert "--allow-insecure-http" in line and "PREDICTORAPI_GIT_ALLOW_INSECURE_HTTP" in line
        assert server.authorizations == []  # refused before anything was sent
        env = {"PREDICTORAPI_GIT_ALLOW_INSECURE_HTTP": "true"}
        assert run_fetch(tmp_path, *args, env=env).returncode == 0
    assert_no_secret(tmp_path, result.stdout, result.stderr)


def test_a_redirect_to_another_host_gets_no_token(tmp_path: Path, source_repo: SourceRepo) -> None:
    """The repository's server (127.0.0.1) redirects to another host (127.0.0.2) that asks for
    credentials: git asks the helper for that host, and the helper gives nothing."""
    creds = str(credentials(tmp_path, TOKEN))
    with other_host_server(source_repo.root) as other, redirect_server(other.url) as redirecting:
        result = run_fetch(tmp_path, "--repo", redirecting + source_repo.name, "--revision", "main",
                           "--dest", str(tmp_path / "c"), "--credentials-dir", creds, INSECURE)
        assert_one_line_failure(result, tmp_path, "AuthenticationFailed")
        assert other.authorizations, "the redirect was not followed: the test proves nothing"
        assert all(TOKEN not in header and not header.startswith("Basic") for header in other.authorizations)
        # The same token fetches from that host when it is the repository's own.
        direct = run_fetch(tmp_path, "--repo", other.url + source_repo.name, "--revision", "main",
                           "--dest", str(tmp_path / "d"), "--credentials-dir", creds, INSECURE)
        assert direct.returncode == 0, direct.stderr
    assert_no_secret(tmp_path, result.stdout, result.stderr)


@pytest.mark.parametrize(("url", "hidden", "shown"), [
    ("https://alice:p@ss-w0rd@git.example.com/x.git", ["p@ss", "ss-w0rd"], "https://***@git.example.com/x.git"),
    ("https://alice:pa/ss@git.example.com/x.git", ["pa/ss"], "https://***@git.example.com/x.git"),
    ("https://git.example.com/x.git?token=t0k3n&ref=main", ["t0k3n", "main"],
     "https://git.example.com/x.git?token=***&ref=***"),
    ("https://git.example.com/x.git?t0k3n", ["t0k3n"], "https://git.example.com/x.git?***"),
    ("https://git.example.com/x.git#t0k3n", ["t0k3n"], "https://git.example.com/x.git#***"),
    ("fatal: unable to access 'https://u:s3cr3t@h:8443/x/?private_token=abc': 403",
     ["s3cr3t", "abc"], "fatal: unable to access 'https://***@h:8443/x/?private_token=***': 403"),
    ("git@github.com:org/repo.git", [], "git@github.com:org/repo.git"),
    ("https://github.com/org/repo.git", [], "https://github.com/org/repo.git"),
])
def test_redaction_hides_every_secret_part_of_a_url(url: str, hidden: list[str], shown: str) -> None:
    redacted = redact_url(url)
    assert redacted == shown
    assert not any(secret in redacted for secret in hidden)


def test_secrets_in_the_url_never_reach_the_termination_message(tmp_path: Path) -> None:
    url = f"http://alice:p@ss-w0rd@127.0.0.1:{free_port()}/models.git?access_token=t0k3n#frag-s3cret"
    result = run_fetch(tmp_path, "--repo", url, "--revision", "main", "--dest", str(tmp_path / "c"), INSECURE)
    line = assert_one_line_failure(result, tmp_path, "RepositoryUnreachable")
    for secret in ("p@ss", "ss-w0rd", "t0k3n", "s3cret"):
        assert secret not in line and secret not in result.stdout
    assert "http://***@127.0.0.1:" in line and "access_token=***#***" in line


# --- ssh (a stand-in `ssh` on PATH records how git calls it and runs the command locally) -----------

FAKE_SSH = """#!/bin/sh
log="$FAKE_SSH_LOG"
printf '%s\\n' "$@" > "$log"
key=""
prev=""
for arg in "$@"; do
  if [ "$prev" = "-i" ]; then key="$arg"; fi
  prev="$arg"
done
if [ -n "$key" ]; then stat -c 'mode=%a' "$key" >> "$log"; cat "$key" >> "$log"; fi
for last in "$@"; do :; done
exec sh -c "$last"
"""


@pytest.mark.parametrize("host_keys", ["known_hosts", "accept-new", "refused"])
def test_ssh_key(tmp_path: Path, source_repo: SourceRepo, host_keys: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    creds = tmp_path / "ssh-credentials"
    creds.mkdir()
    (creds / "ssh-privatekey").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n")
    (creds / "ssh-privatekey").chmod(0o644)  # as a Secret volume mounts it; ssh wants 0600
    if host_keys == "known_hosts":
        (creds / "known_hosts").write_text("git.example.com ssh-ed25519 AAAA\n")
    log = tmp_path / "ssh.log"
    dest = tmp_path / "code"
    url = f"ssh://git@git.example.com{source_repo.root / source_repo.name}"
    flags = ["--ssh-accept-new-host-keys"] if host_keys == "accept-new" else []
    result = run_fetch(tmp_path, "--repo", url, "--revision", "v1", "--dest", str(dest),
                       "--credentials-dir", str(creds), *flags,
                       env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SSH_LOG": str(log)})
    if host_keys == "refused":  # no way to check the host key, and no opt-in: ssh never runs
        line = assert_one_line_failure(result, tmp_path, "KnownHostsMissing")
        assert "known_hosts" in line and "PREDICTORAPI_GIT_SSH_ACCEPT_NEW_HOST_KEYS" in line
        assert not log.exists()
        return
    assert result.returncode == 0, result.stderr
    assert (dest / REVISION_FILE).read_text().strip() == source_repo.first
    args = log.read_text().splitlines()
    assert "BatchMode=yes" in args and "IdentitiesOnly=yes" in args
    assert "mode=600" in args and "fake" in args
    if host_keys == "known_hosts":
        assert "StrictHostKeyChecking=yes" in args and f"UserKnownHostsFile={creds / 'known_hosts'}" in args
    else:
        assert "StrictHostKeyChecking=accept-new" in args and "StrictHostKeyChecking=no" not in args
    assert not list(dest.rglob("ssh-key")), "the private key copy must not stay in the checkout"
    assert stat.S_IMODE((creds / "ssh-privatekey").stat().st_mode) == 0o644
