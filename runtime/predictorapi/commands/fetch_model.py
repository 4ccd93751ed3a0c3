"""`predictorapi fetch-model`: download `spec.model` into the model volume (the `fetch-model` init container).

Configured by flags or, in the init container, by the environment (`PREDICTORAPI_MODEL_URI`,
`PREDICTORAPI_MODEL_REVISION`, `PREDICTORAPI_MODEL_CACHE_DIR`, `PREDICTORAPI_MODEL_STALL_TIMEOUT`,
`PREDICTORAPI_MODEL_LINK`, `PREDICTORAPI_MODEL_ALLOW_INSECURE_HTTP`, `PREDICTORAPI_TERMINATION_LOG`);
credentials and endpoints come from the environment too (the secretRef: `AWS_*`,
`GOOGLE_APPLICATION_CREDENTIALS_JSON`, `HF_TOKEN`, `HF_ENDPOINT`, `HTTP_AUTHORIZATION`). Credentials are not
sent over plain http unless `--allow-insecure-http` is given.

The artifact lands in `CACHE_DIR/<key>/`, the key made of the URI, the revision (an hf:// branch or tag
resolved to its commit), the endpoint and the version the store reports (ETags, generations, the commit),
downloaded once: a second start (another replica on the same cache volume) waits for the first one's download,
a later one finds it done. Progress (bytes, rate) is logged. On success the folder is printed, `--link` is made
a symlink to it, and `{"path": FOLDER, "revision": REVISION}` is written to the termination log; on failure
(HTTP 403, a missing object, a digest or revision mismatch, no data for the stall timeout) ONE line
`ModelDownloadFailed: <uri, credentials redacted>: <detail>` goes to stderr and to the termination log, and
the exit code is 1 (2 for a missing setting).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictorapi.commands.termination_log import fail, termination_log, write
from predictorapi.contracts.env import ENV_PREFIX, MODEL_ENV_PREFIX
from predictorapi.contracts.pod import MODEL_DIR, TERMINATION_LOG
from predictorapi.contracts.termination import ModelFetched, model_fetched_message


class ModelFetchSettings(BaseSettings):
    """`PREDICTORAPI_MODEL_*` (and `PREDICTORAPI_TERMINATION_LOG`): what the operator sets on the init container."""

    model_config = SettingsConfigDict(env_prefix=MODEL_ENV_PREFIX, extra="ignore")

    uri: str | None = None
    revision: str | None = None
    cache_dir: str = MODEL_DIR
    stall_timeout: float = Field(120.0, gt=0)
    link: str | None = None
    allow_insecure_http: bool = False
    termination_log: str | None = Field(None, validation_alias=f"{ENV_PREFIX}TERMINATION_LOG")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `fetch-model`; every flag defaults to its environment variable (read when it runs)."""
    parser = subparsers.add_parser(
        "fetch-model",
        help="download a model artifact into the cache folder (the init container)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = f"${MODEL_ENV_PREFIX}"
    parser.add_argument("--uri", help=f"s3://, gs://, https://, http:// or hf:// URI [{env}URI]")
    parser.add_argument("--revision", help=f"hf: a commit; https: the file's sha256; s3/gs: a label [{env}REVISION]")
    parser.add_argument("--cache-dir", help=f"folder holding one subfolder per artifact [{env}CACHE_DIR, default "
                        f"{MODEL_DIR}]")
    parser.add_argument("--stall-timeout", type=float, help=f"seconds without data before giving up [{env}"
                        "STALL_TIMEOUT, default 120]")
    parser.add_argument("--link", help=f"make this path a symlink to the model's folder [{env}LINK]")
    parser.add_argument("--allow-insecure-http", action="store_true", default=None,
                        help=f"send credentials over plain http:// too, on a network you trust [{env}"
                        "ALLOW_INSECURE_HTTP]")
    parser.add_argument("--termination-log", help=f"file receiving the folder or the error line [${ENV_PREFIX}"
                        f"TERMINATION_LOG; default {TERMINATION_LOG} when it exists]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch; returns the exit code."""
    from predictorapi.artifacts.errors import DownloadFailed, download_secrets, failure_line
    from predictorapi.artifacts.fetch import ModelRequest, model_folder

    try:
        flags = {k: v for k, v in vars(args).items() if k in ModelFetchSettings.model_fields and v is not None}
        settings = ModelFetchSettings().model_copy(update=flags)
    except ValidationError as exc:
        item = exc.errors(include_url=False)[0]
        detail = f"{MODEL_ENV_PREFIX}{str(item['loc'][0]).upper()}: {item['msg']}"
        return fail(termination_log(None), f"InvalidRequest: {detail}", 2)
    log = termination_log(settings.termination_log)
    if not settings.uri:
        return fail(log, f"InvalidRequest: missing --uri ({MODEL_ENV_PREFIX}URI)", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    request = ModelRequest(uri=settings.uri, revision=settings.revision, cache_dir=Path(settings.cache_dir),
                           stall_seconds=settings.stall_timeout, allow_insecure_http=settings.allow_insecure_http)

    secrets = download_secrets(os.environ)

    def on_stall(detail: str) -> None:  # the download cannot be interrupted from here: end the process
        fail(log, failure_line(settings.uri, detail, secrets), 1)
        os._exit(1)

    try:
        found = model_folder(request, on_stall)
    except DownloadFailed as exc:
        return fail(log, failure_line(settings.uri, exc.detail, secrets), 1)
    except Exception as exc:  # never a traceback in an init container's termination message
        return fail(log, failure_line(settings.uri, f"{type(exc).__name__}: {exc}", secrets), 1)
    if settings.link:
        _link(Path(settings.link), found.path)
    write(log, model_fetched_message(ModelFetched(str(found.path), found.revision)))
    print(f"{'downloaded' if found.downloaded else 'cached'}: {found.path} (revision {found.revision or '-'})",
          flush=True)
    return 0


def _link(link: Path, target: Path) -> None:
    """Make `link` a symlink to `target`, replacing whatever link is there (atomically)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    scratch = link.with_name(f".{link.name}.new")
    scratch.unlink(missing_ok=True)
    scratch.symlink_to(target.absolute(), target_is_directory=True)
    os.replace(scratch, link)

