"""`predictorapi fetch`: check out predictor code at a git revision (the `fetch-code` init container).

Configured by flags or, in the init container, by the environment (`PREDICTORAPI_GIT_REPO`,
`PREDICTORAPI_GIT_REVISION`, `PREDICTORAPI_GIT_PATH`, `PREDICTORAPI_GIT_DEST`,
`PREDICTORAPI_GIT_CREDENTIALS_DIR`, `PREDICTORAPI_TERMINATION_LOG`, `PREDICTORAPI_GIT_TIMEOUT`).

On success it prints one line, writes the commit SHA to `DEST/.predictorapi-revision` and to the
termination log, and exits 0. On failure it prints ONE line `<Reason>: <detail>` on stderr (no
traceback, no secret), writes the same line to the termination log and exits 1 (2 for a missing
setting), so Kubernetes shows it as the init container's termination message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
DEFAULT_DEST = "/srv/code"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `fetch`."""
    env = os.environ.get
    parser = subparsers.add_parser(
        "fetch",
        help="check out predictor code at a git revision (the init container)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repo", default=env("PREDICTORAPI_GIT_REPO"), help="repository URL [$PREDICTORAPI_GIT_REPO]")
    parser.add_argument(
        "--revision",
        default=env("PREDICTORAPI_GIT_REVISION"),
        help="commit SHA (full or short), tag, branch or ref [$PREDICTORAPI_GIT_REVISION]",
    )
    parser.add_argument(
        "--path", default=env("PREDICTORAPI_GIT_PATH", ""), help="folder inside the repository [$PREDICTORAPI_GIT_PATH]"
    )
    parser.add_argument(
        "--dest",
        default=env("PREDICTORAPI_GIT_DEST", DEFAULT_DEST),
        help=f"folder receiving the content of PATH [$PREDICTORAPI_GIT_DEST, default {DEFAULT_DEST}]",
    )
    parser.add_argument(
        "--credentials-dir",
        default=env("PREDICTORAPI_GIT_CREDENTIALS_DIR") or None,
        help="mounted Secret: token [+ username] for https, ssh-privatekey [+ known_hosts] for ssh "
        "[$PREDICTORAPI_GIT_CREDENTIALS_DIR]",
    )
    parser.add_argument(
        "--termination-log",
        default=env("PREDICTORAPI_TERMINATION_LOG"),
        help=f"file receiving the SHA or the error line [$PREDICTORAPI_TERMINATION_LOG; default "
        f"{DEFAULT_TERMINATION_LOG} when it exists]",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=env("PREDICTORAPI_GIT_TIMEOUT", "300"),
        help="seconds one git command may take [$PREDICTORAPI_GIT_TIMEOUT, default 300]",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch; returns the exit code."""
    from predictorapi.gitfetch import FetchError, FetchRequest, fetch, one_line, redact_url

    log = _termination_log(args.termination_log)
    missing = [name for name in ("repo", "revision") if not getattr(args, name)]
    if missing:
        return _fail(log, f"InvalidRequest: missing --{missing[0]} (PREDICTORAPI_GIT_{missing[0].upper()})", 2)
    request = FetchRequest(
        repo=args.repo,
        revision=args.revision,
        path=args.path or "",
        dest=Path(args.dest),
        credentials_dir=Path(args.credentials_dir) if args.credentials_dir else None,
        timeout_seconds=args.timeout,
    )
    try:
        sha = fetch(request)
    except FetchError as exc:
        return _fail(log, str(exc), 1)
    except Exception as exc:  # never a traceback in an init container's termination message
        return _fail(log, one_line(f"FetchFailed: {type(exc).__name__}: {redact_url(str(exc))}"), 1)
    _write(log, sha)
    where = f"{redact_url(request.repo)}" + (f" path {request.path}" if request.path else "")
    print(f"checked out {sha} ({request.revision}) of {where} into {request.dest}", flush=True)
    return 0


def _termination_log(configured: str | None) -> Path | None:
    """The explicit file, or Kubernetes' `/dev/termination-log` only where it exists (never create it)."""
    if configured:
        return Path(configured)
    default = Path(DEFAULT_TERMINATION_LOG)
    return default if default.is_file() else None


def _write(log: Path | None, text: str) -> None:
    if log is None:
        return
    with contextlib.suppress(OSError):  # not writable: the message is on stderr anyway
        log.write_text(text[:4000])


def _fail(log: Path | None, line: str, code: int) -> int:
    _write(log, line)
    print(line, file=sys.stderr, flush=True)
    return code
