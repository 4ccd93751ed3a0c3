"""Check out predictor code from git at an exact revision (the `fetch-code` init container).

`fetch(request)` resolves `request.revision` (full or short commit SHA, tag, branch or full ref) in
`request.repo`, checks that commit out in a scratch folder inside `request.dest`, moves the content
of `request.path` up into `request.dest` (so `DEST/<predictor.path>` is the predictor file), writes
the resolved SHA to `DEST/.predictorapi-revision` and returns it. The `.git` folder is not kept.

Credentials (`credentials_dir`, a mounted Secret, resolved to an absolute path) are never put in a
URL, in a command line, in a log line or in a git config file:

* https: files `token` (and optional `username`, default `x-access-token`) are read by a git
  credential helper passed through the environment (`GIT_CONFIG_*`), at the moment git asks. The
  helper is configured for the repository's own protocol and host only, and checks them again: a
  redirect to another host (or from https to http) gets no token. Over plain `http://` a token (or a
  password in the URL) is refused unless `allow_insecure_http` is set;
* ssh: file `ssh-privatekey` (copied to a private 0600 file, as ssh demands) and `known_hosts`, which
  the host key must match. Without `known_hosts` the fetch is refused, unless
  `ssh_accept_new_host_keys` is set (unsafe: the scratch known_hosts is empty, so whatever host answers
  is trusted).

Every failure is a :class:`FetchError` whose ``str()`` is one line, ``"<Reason>: <detail>"``, safe to
show to users (URL userinfo, query values, fragments and the token are redacted by
:func:`predictorapi.secrets_scrub.scrub`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from predictorapi.contracts.env import GIT_ENV_PREFIX as _ENV
from predictorapi.contracts.termination import REVISION_FILE, failure_message
from predictorapi.secrets_scrub import redact_url, scrub

DEFAULT_USERNAME = "x-access-token"
"""Username sent with a token when the Secret has no `username` key (GitHub's convention)."""
SCRATCH_PREFIX = ".predictorapi-fetch-"
SCHEMES = ("https", "http", "ssh", "git+ssh", "ssh+git", "git", "file")
MAX_MESSAGE = 1000

_FATAL_REASONS = ("AuthenticationFailed", "RepositoryUnreachable", "HostKeyVerificationFailed")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_SHORT_SHA = re.compile(r"^[0-9a-f]{4,63}$")
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")


class FetchError(Exception):
    """A fetch failure: `reason` is CamelCase (for a condition reason), `detail` one line."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = one_line(detail)
        super().__init__(failure_message(reason, self.detail))


@dataclass(frozen=True)
class FetchRequest:
    """What to check out and where."""

    repo: str
    revision: str
    dest: Path
    path: str = ""
    credentials_dir: Path | None = None
    timeout_seconds: float = 300.0
    allow_insecure_http: bool = False
    """Send a token (or a URL's password) over plain http:// too (a trusted network only)."""
    ssh_accept_new_host_keys: bool = False
    """Without `known_hosts`, trust whatever ssh host key is offered (unsafe: no protection against a
    man in the middle)."""


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Collapse whitespace and newlines into one line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def url_transport(url: str) -> str:
    """The transport git uses for `url`: its scheme (lower case), `ssh` for `[user@]host:path`, `file`
    for a local path."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", url)
    if match:
        scheme = match[1].lower()
        return "ssh" if scheme in _SSH_SCHEMES else scheme
    return "file" if url.startswith(("/", ".")) else "ssh"


def url_origin(url: str) -> tuple[str, str]:
    """(protocol, host) of a URL as git's credential protocol names them: the host in lower case, with
    its port when the URL has one, without user info."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#]*)", url)
    if not match:
        return url_transport(url), ""
    return match[1].lower(), match[2].rpartition("@")[2].lower()


def url_password(url: str) -> bool:
    """Whether `url` carries a password in its user info."""
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)@", url)
    return bool(match and ":" in match[1])


def normalise_subpath(path: str) -> PurePosixPath:
    """The repository-relative folder `path` ('' or '.' = root); refuses absolute paths and `..`."""
    cleaned = PurePosixPath(path.strip().strip("/") or ".")
    if path.strip().startswith("/") or ".." in cleaned.parts:
        raise FetchError("InvalidPath", f"path {path!r} must be relative to the repository root, without '..'")
    return cleaned


def fetch(request: FetchRequest) -> str:
    """Check `request.revision` of `request.repo` out into `request.dest`; return the commit SHA."""
    import git  # gitpython: imported here so `predictorapi --help` stays fast

    if not request.repo.strip():
        raise FetchError("InvalidRequest", "no repository given (PREDICTORAPI_GIT_REPO)")
    if not request.revision.strip():
        raise FetchError("InvalidRequest", "no revision given (PREDICTORAPI_GIT_REVISION)")
    check_url(request.repo.strip())
    if request.credentials_dir is not None:  # git runs elsewhere: a relative folder would read nothing
        request = dataclasses.replace(request, credentials_dir=request.credentials_dir.resolve())
    check_transport(request)
    subpath = normalise_subpath(request.path)
    dest = request.dest
    dest.mkdir(parents=True, exist_ok=True)
    _clear_previous_attempt(dest)

    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=dest))
    secrets: list[str] = []
    try:
        with _git_environment(request, scratch, secrets) as env:
            runner = _Git(git.Repo.init(scratch / "repo"), env, request, secrets)
            sha = runner.resolve_and_checkout(request.revision.strip())
        source = (scratch / "repo" / subpath).resolve()
        worktree = (scratch / "repo").resolve()
        if not source.is_relative_to(worktree) or not source.is_dir():
            what = "is not a folder" if source.exists() else "does not exist"
            raise FetchError(
                "PathNotFound", f"path {request.path!r} {what} at {sha} of {redact_url(request.repo)}"
            )
        for entry in source.iterdir():
            if source == worktree and entry.name == ".git":
                continue
            entry.rename(dest / entry.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (dest / REVISION_FILE).write_text(sha + "\n")
    return sha


def _stderr_text(stderr: object) -> str:
    """GitPython's `GitCommandError.stderr` without its `\n  stderr: '...'` wrapping."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else str(stderr or "")
    text = text.strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '") : -1]
    return text


def check_url(url: str) -> None:
    """Refuse URLs git would not fetch over a supported transport, before running git."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", url)
    if match and match[1].lower() not in SCHEMES:
        raise FetchError(
            "InvalidRepositoryURL",
            f"unsupported scheme {match[1]!r} in {redact_url(url)} (use https://, ssh://, git:// or git@host:path)",
        )
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*::", url):
        raise FetchError("InvalidRepositoryURL", f"remote helper URLs like {redact_url(url)} are not allowed")
    if not match and not re.match(r"^([^/:\s]+@)?[^/:\s]+:", url) and not url.startswith(("/", ".")):
        raise FetchError(
            "InvalidRepositoryURL", f"{redact_url(url)} is not a repository URL (https://, ssh://, git@host:path)"
        )


def check_transport(request: FetchRequest) -> None:
    """Refuse to send a secret in clear text, and ssh without a way to check the host key."""
    url, creds = request.repo.strip(), request.credentials_dir
    transport = url_transport(url)
    if transport == "http" and not request.allow_insecure_http:
        secret = ("a token" if creds is not None and (creds / "token").is_file() else
                  "the password in the URL" if url_password(url) else None)
        if secret:
            raise FetchError(
                "InsecureTransport",
                f"refusing to send {secret} over plain http to {redact_url(url)}: use https://, or set "
                f"{_ENV}ALLOW_INSECURE_HTTP=true (--allow-insecure-http) on a network you trust",
            )
    if (transport == "ssh" and creds is not None and (creds / "ssh-privatekey").is_file()
            and not (creds / "known_hosts").is_file() and not request.ssh_accept_new_host_keys):
        raise FetchError(
            "KnownHostsMissing",
            f"no known_hosts next to ssh-privatekey in {creds}, so the host key of {redact_url(url)} cannot be "
            f"checked: add the host's key as `known_hosts` to the Secret, or set {_ENV}SSH_ACCEPT_NEW_HOST_KEYS="
            "true (--ssh-accept-new-host-keys; unsafe: trusts whatever host answers)",
        )


def _clear_previous_attempt(folder: Path) -> None:
    """Empty `folder` if it holds an earlier fetch (an init container restarting in the same
    emptyDir); refuse to touch a folder holding anything else."""
    entries = list(folder.iterdir())
    ours = any(e.name == REVISION_FILE or e.name.startswith(SCRATCH_PREFIX) for e in entries)
    if entries and not ours:
        raise FetchError("DestinationNotEmpty", f"destination {folder} is not empty and holds no earlier fetch")
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextmanager
def _git_environment(request: FetchRequest, scratch: Path, secrets: list[str]) -> Iterator[dict[str, str]]:
    """Environment for every git process: no prompts, no user/system config, credentials wired in."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GCM_INTERACTIVE": "never",
        "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
        "GIT_HTTP_LOW_SPEED_TIME": "60",
        "LC_ALL": "C",
        "LANG": "C",
    }
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"]
    creds = request.credentials_dir
    if creds is not None and not creds.is_dir():
        raise FetchError("CredentialsNotFound", f"credentials folder {creds} does not exist")
    if creds is not None and (creds / "token").is_file():
        secrets.append((creds / "token").read_text().strip())
        env.update(_credential_helper_config(creds, *url_origin(request.repo.strip())))
    known_hosts = creds / "known_hosts" if creds is not None else None
    if creds is not None and (creds / "ssh-privatekey").is_file():
        key = scratch / "ssh-key"
        key.touch(mode=0o600)
        key.write_bytes((creds / "ssh-privatekey").read_bytes())
        ssh += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    if known_hosts is not None and known_hosts.is_file():
        ssh += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
    elif request.ssh_accept_new_host_keys:  # opted in: trust on first use, and every use is a first
        ssh += ["-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={scratch / 'known_hosts'}"]
    else:  # the user's own known_hosts (a local run) or none: an unknown host is refused
        ssh += ["-o", "StrictHostKeyChecking=yes"]
    env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    yield env


def _credential_helper_config(creds: Path, protocol: str, host: str) -> dict[str, str]:
    """`GIT_CONFIG_*` variables installing a helper that reads the token file when git asks, for
    `protocol://host` only.

    The first, empty `credential.helper` drops any helper configured elsewhere, so git never hands
    the token to a `store` helper; the token itself never appears in the environment. The helper is
    configured under `credential.<protocol>://<host>` (git asks it for that origin only) and compares
    the protocol and host git sends with them again, answering nothing for any other origin.
    """
    folder = shlex.quote(str(creds))
    helper = (
        "!f() { test \"$1\" = get || exit 0; p=; h=; "
        "while IFS= read -r line; do case \"$line\" in protocol=*) p=\"${line#protocol=}\";; "
        "host=*) h=\"${line#host=}\";; esac; done; "
        f"test \"$p\" = {shlex.quote(protocol)} || exit 0; "
        f"test \"$(printf %s \"$h\" | tr A-Z a-z)\" = {shlex.quote(host)} || exit 0; "
        f"if test -s {folder}/username; then printf 'username=%s\\n' \"$(cat {folder}/username)\"; "
        f"else echo username={DEFAULT_USERNAME}; fi; "
        f"printf 'password=%s\\n' \"$(cat {folder}/token)\"; }}; f"
    )
    return {
        "GIT_CONFIG_COUNT": "3",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": f"credential.{protocol}://{host}.helper",
        "GIT_CONFIG_VALUE_1": helper,
        "GIT_CONFIG_KEY_2": "credential.useHttpPath",
        "GIT_CONFIG_VALUE_2": "true",
    }


class _Git:
    """Runs git in the scratch repository and turns its failures into :class:`FetchError`."""

    def __init__(self, repo, env: Mapping[str, str], request: FetchRequest, secrets: list[str]) -> None:
        self.repo = repo
        self.env = dict(env)
        self.url = request.repo.strip()
        self.shown_url = redact_url(self.url)
        self.timeout = request.timeout_seconds
        self.secrets = [s for s in secrets if s]

    def run(self, *args: str) -> str:
        """`git ARGS` → stdout; a failure becomes a classified :class:`FetchError`."""
        from git.exc import GitCommandError

        try:
            with self.repo.git.custom_environment(**self.env):
                return self.repo.git.execute(
                    ["git", *args], kill_after_timeout=self.timeout, with_extended_output=False
                )
        except GitCommandError as exc:
            raise self.classify(_stderr_text(exc.stderr), exc.status) from None

    def clean(self, text: str) -> str:
        return scrub(text.replace(self.url, self.shown_url), self.secrets)

    def classify(self, stderr: str, status: object) -> FetchError:
        """Map git's stderr to a reason and one line naming the repository (never a secret)."""
        lines = [ln.strip() for ln in self.clean(stderr).splitlines() if ln.strip()]
        fatal = [ln for ln in lines if "fatal:" in ln or "error:" in ln]
        detail = (fatal[-1] if fatal else (lines[-1] if lines else f"git exited with {status}"))
        detail = re.sub(r"^.*?(fatal|error): ", "", detail)
        if "could not read from remote repository" in detail.lower() and lines and lines[0] != fatal[-1]:
            detail = lines[0]  # git's generic ending; the transport's own line (ssh: ...) says why
        low = stderr.lower()
        repo = self.shown_url
        if "host key verification failed" in low:
            return FetchError("HostKeyVerificationFailed", f"ssh host key of {repo} not in known_hosts")
        if any(s in low for s in ("authentication failed", "could not read username", "could not read password",
                                  "terminal prompts disabled", "permission denied (publickey",
                                  "the requested url returned error: 401", "the requested url returned error: 403",
                                  "invalid username or password")):
            return FetchError("AuthenticationFailed", f"authentication to {repo} failed: {detail}")
        if any(s in low for s in ("repository not found", "not exported", "does not appear to be a git repository",
                                  "the requested url returned error: 404", "not a git repository")):
            return FetchError("RepositoryNotFound", f"repository {repo} not found: {detail}")
        if any(s in low for s in ("unable to find remote helper", "unsupported protocol", "git: 'remote-",
                                  "url malformed", "invalid url", "port number")):
            return FetchError("InvalidRepositoryURL", f"cannot use repository URL {repo}: {detail}")
        if status in (-9, -15) or "timed out" in low or "timeout" in low:
            return FetchError("RepositoryUnreachable", f"timed out talking to {repo}: {detail}")
        if any(s in low for s in ("could not resolve", "connection refused", "unable to access",
                                  "could not read from remote", "unable to connect", "network is unreachable",
                                  "unable to look up", "connection reset", "no route to host")):
            return FetchError("RepositoryUnreachable", f"cannot reach {repo}: {detail}")
        return FetchError("GitFetchFailed", f"git failed for {repo}: {detail}")

    def remote_refs(self) -> dict[str, str]:
        """`ref name -> commit` advertised by the remote (tags peeled to their commit)."""
        refs: dict[str, str] = {}
        for line in self.run("ls-remote", "--", self.url).splitlines():
            sha, _, name = line.partition("\t")
            if name.endswith("^{}"):
                refs[name[:-3]] = sha  # the peeled commit of an annotated tag wins
            else:
                refs.setdefault(name, sha)
        return refs

    def resolve_and_checkout(self, revision: str) -> str:
        """Fetch as little as possible to get `revision`, check it out, return its commit SHA."""
        refs = self.remote_refs()  # also the reachability and authentication check
        lowered = revision.lower()
        for candidate in (revision, f"refs/tags/{revision}", f"refs/heads/{revision}"):
            if (candidate.startswith("refs/") or candidate == "HEAD") and candidate in refs:
                try:
                    self.run("fetch", "--quiet", "--depth=1", "--no-tags", "--", self.url, candidate)
                except FetchError as exc:
                    if exc.reason in _FATAL_REASONS:
                        raise
                    # e.g. a dumb-http server cannot serve a shallow fetch: fetch the ref in full
                    self.run("fetch", "--quiet", "--no-tags", "--", self.url, candidate)
                return self.checkout("FETCH_HEAD")
        if _FULL_SHA.match(lowered):
            try:
                self.run("fetch", "--quiet", "--depth=1", "--no-tags", "--", self.url, lowered)
                return self.checkout(lowered)
            except FetchError as exc:
                if exc.reason in _FATAL_REASONS:
                    raise
            # The server refuses to serve an unadvertised commit: fetch the history and look there.
        if _SHORT_SHA.match(lowered):
            self.run("fetch", "--quiet", "--no-tags", "--", self.url,
                     "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
            try:
                sha = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{lowered}^{{commit}}")
            except FetchError:
                sha = ""
            if sha:
                return self.checkout(sha.strip())
        raise FetchError(
            "RevisionNotFound",
            f"revision {revision!r} is not a branch, tag or commit of {self.shown_url}",
        )

    def checkout(self, what: str) -> str:
        sha = self.run("rev-parse", "--verify", "--end-of-options", f"{what}^{{commit}}").strip()
        self.run("-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", sha)
        return sha
