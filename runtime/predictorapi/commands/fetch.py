"""`predictorapi fetch`: check out predictor code at a git revision (the `fetch-code` init container).

Configured by flags or, in the init container, by the environment (`PREDICTORAPI_GIT_REPO`,
`PREDICTORAPI_GIT_REVISION`, `PREDICTORAPI_GIT_PATH`, `PREDICTORAPI_GIT_DEST`,
`PREDICTORAPI_GIT_CREDENTIALS_DIR`, `PREDICTORAPI_TERMINATION_LOG`, `PREDICTORAPI_GIT_TIMEOUT`,
`PREDICTORAPI_GIT_ALLOW_INSECURE_HTTP`, `PREDICTORAPI_GIT_SSH_ACCEPT_NEW_HOST_KEYS`).

It installs nothing: the checked-out requirements are installed by `predictorapi install-packages`, the next
init container, which gets no credentials.

A token is only ever sent to the repository's own protocol and host (never after a redirect to
another host), and never over plain http:// unless allowed; ssh with a key needs `known_hosts` in
the credentials folder unless accepting new host keys is allowed (unsafe).

On success it prints one line, writes the commit SHA to `DEST/.predictorapi-revision` and to the
termination log, and exits 0. On failure it prints ONE line `<Reason>: <detail>` on stderr (no
traceback, no secret), writes the same line to the termination log and exits 1 (2 for a missing
setting), so Kubernetes shows it as the init container's termination message.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictorapi.commands.termination_log import fail, termination_log, write
from predictorapi.contracts.env import ENV_PREFIX, GIT_ENV_PREFIX
from predictorapi.contracts.pod import CODE_DIR, TERMINATION_LOG
from predictorapi.contracts.termination import failure_message


class FetchSettings(BaseSettings):
    """`PREDICTORAPI_GIT_*` (and `PREDICTORAPI_TERMINATION_LOG`): what the operator sets on the init container."""

    model_config = SettingsConfigDict(env_prefix=GIT_ENV_PREFIX, extra="ignore")

    repo: str | None = None
    revision: str | None = None
    path: str = ""
    dest: str = CODE_DIR
    credentials_dir: str | None = None
    timeout: float = 300.0
    allow_insecure_http: bool = False
    ssh_accept_new_host_keys: bool = False
    termination_log: str | None = Field(None, validation_alias=f"{ENV_PREFIX}TERMINATION_LOG")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `fetch`; every flag defaults to its environment variable (read when it runs)."""
    parser = subparsers.add_parser(
        "fetch",
        help="check out predictor code at a git revision (the init container)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = f"${GIT_ENV_PREFIX}"
    parser.add_argument("--repo", help=f"repository URL [{env}REPO]")
    parser.add_argument("--revision", help=f"commit SHA (full or short), tag, branch or ref [{env}REVISION]")
    parser.add_argument("--path", help=f"folder inside the repository [{env}PATH]")
    parser.add_argument("--dest", help=f"folder receiving the content of PATH [{env}DEST, default {CODE_DIR}]")
    parser.add_argument("--credentials-dir", help="mounted Secret: token [+ username] for https, ssh-privatekey "
                        f"[+ known_hosts] for ssh [{env}CREDENTIALS_DIR]")
    parser.add_argument("--termination-log", help=f"file receiving the SHA or the error line [${ENV_PREFIX}"
                        f"TERMINATION_LOG; default {TERMINATION_LOG} when it exists]")
    parser.add_argument("--timeout", type=float, help=f"seconds one git command may take [{env}TIMEOUT, default 300]")
    parser.add_argument("--allow-insecure-http", action="store_true", default=None,
                        help=f"send the token over plain http:// too (trusted networks only) "
                        f"[{env}ALLOW_INSECURE_HTTP]")
    parser.add_argument("--ssh-accept-new-host-keys", action="store_true", default=None,
                        help="without known_hosts, trust whatever ssh host key is offered (UNSAFE: no protection "
                        f"against a man in the middle) [{env}SSH_ACCEPT_NEW_HOST_KEYS]")
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> FetchSettings:
    """The environment's settings, overridden by the flags given."""
    flags = {name: value for name, value in vars(args).items() if name in FetchSettings.model_fields
             and value is not None}
    return FetchSettings().model_copy(update=flags)


def run(args: argparse.Namespace) -> int:
    """Fetch; returns the exit code."""
    from predictorapi.gitfetch import FetchError, FetchRequest, fetch, one_line, redact_url

    try:
        settings = settings_from(args)
    except ValidationError as exc:
        item = exc.errors(include_url=False)[0]
        field = GIT_ENV_PREFIX + str(item["loc"][0]).upper()
        return fail(termination_log(None), failure_message("InvalidRequest", f"{field}: {item['msg']}"), 2)
    log = termination_log(settings.termination_log)
    missing = [name for name in ("repo", "revision") if not getattr(settings, name)]
    if missing:
        detail = f"missing --{missing[0]} ({GIT_ENV_PREFIX}{missing[0].upper()})"
        return fail(log, failure_message("InvalidRequest", detail), 2)
    request = FetchRequest(
        repo=settings.repo,
        revision=settings.revision,
        path=settings.path,
        dest=Path(settings.dest),
        credentials_dir=Path(settings.credentials_dir).resolve() if settings.credentials_dir else None,
        timeout_seconds=settings.timeout,
        allow_insecure_http=settings.allow_insecure_http,
        ssh_accept_new_host_keys=settings.ssh_accept_new_host_keys,
    )
    try:
        sha = fetch(request)
    except FetchError as exc:
        return fail(log, str(exc), 1)
    except Exception as exc:  # never a traceback in an init container's termination message
        detail = f"{type(exc).__name__}: {redact_url(str(exc))}"
        return fail(log, one_line(failure_message("FetchFailed", detail)), 1)
    write(log, sha)
    where = f"{redact_url(request.repo)}" + (f" path {request.path}" if request.path else "")
    print(f"checked out {sha} ({request.revision}) of {where} into {request.dest}", flush=True)
    return 0

