"""`predictorapi install-packages`: pip-install the checked-out code's requirements (the `install-packages` init
container, after `fetch-code`).

Configured by flags or, in the init container, by the environment (`PREDICTORAPI_INSTALL_CODE_DIR`,
`PREDICTORAPI_INSTALL_REQUIREMENTS`, `PREDICTORAPI_INSTALL_REQUIREMENTS_OPTIONAL`,
`PREDICTORAPI_INSTALL_PACKAGES_DIR`, `PREDICTORAPI_INSTALL_ALLOWED_INDEX_URLS` (a JSON list),
`PREDICTORAPI_INSTALL_SECRET_ENV` (a JSON list of variables whose values are scrubbed from pip's output),
`PREDICTORAPI_INSTALL_TIMEOUT`, `PREDICTORAPI_TERMINATION_LOG`); pip's own settings are the `PIP_*` variables.

The requirements file (relative to CODE_DIR) is installed into PACKAGES_DIR/<cache key> (reused when already
there; see `predictorapi.requirements`) and CODE_DIR/.predictorapi-packages links to it: the runtime appends that
link to its import path. The container has no credentials and only its own packages folder is writable, so build
code (an sdist's setup.py) can neither read the git token nor write into another API's folder.

On success it prints one line and exits 0. On failure it prints ONE line `DependencyInstallFailed: <detail>` on
stderr (no traceback, no secret), writes the same line to the termination log and exits 1 (2 for a bad setting).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictorapi.commands.termination_log import fail, termination_log, write
from predictorapi.contracts.env import ENV_PREFIX, INSTALL_ENV_PREFIX
from predictorapi.contracts.pod import CODE_DIR, PACKAGES_DIR, PACKAGES_LINK_NAME, TERMINATION_LOG
from predictorapi.contracts.termination import DEPENDENCY_INSTALL_FAILED, failure_message


class InstallSettings(BaseSettings):
    """`PREDICTORAPI_INSTALL_*` (and `PREDICTORAPI_TERMINATION_LOG`): what the operator sets on the container."""

    model_config = SettingsConfigDict(env_prefix=INSTALL_ENV_PREFIX, extra="ignore")

    code_dir: str = CODE_DIR
    requirements: str | None = None
    requirements_optional: bool = False
    packages_dir: str = PACKAGES_DIR
    allowed_index_urls: list[str] = Field(default_factory=list)
    secret_env: list[str] = Field(default_factory=list)
    timeout: float = 1800.0
    termination_log: str | None = Field(None, validation_alias=f"{ENV_PREFIX}TERMINATION_LOG")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `install-packages`; every flag defaults to its environment variable (read when it runs)."""
    parser = subparsers.add_parser(
        "install-packages",
        help="pip-install the checked-out code's requirements (the init container)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = f"${INSTALL_ENV_PREFIX}"
    parser.add_argument("--code-dir", help=f"the checked-out code [{env}CODE_DIR, default {CODE_DIR}]")
    parser.add_argument("--requirements", help=f"pip requirements file, relative to CODE_DIR [{env}REQUIREMENTS]")
    parser.add_argument("--requirements-optional", action="store_true", default=None,
                        help=f"succeed without installing when the file is absent [{env}REQUIREMENTS_OPTIONAL]")
    parser.add_argument("--packages-dir", help=f"cache of installs, one folder per cache key [{env}PACKAGES_DIR, "
                        f"default {PACKAGES_DIR}]")
    parser.add_argument("--allowed-index-url", action="append", dest="allowed_index_urls",
                        help=f"an index URL the requirements may name (repeatable) [{env}ALLOWED_INDEX_URLS]")
    parser.add_argument("--timeout", type=float, help=f"seconds pip may take [{env}TIMEOUT, default 1800]")
    parser.add_argument("--termination-log", help=f"file receiving the error line [${ENV_PREFIX}TERMINATION_LOG; "
                        f"default {TERMINATION_LOG} when it exists]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Install; returns the exit code."""
    from predictorapi.gitfetch import FetchError, one_line
    from predictorapi.secrets_scrub import scrub, secret_env_values

    try:
        flags = {name: value for name, value in vars(args).items() if name in InstallSettings.model_fields
                 and value is not None}
        settings = InstallSettings().model_copy(update=flags)
    except ValidationError as exc:
        item = exc.errors(include_url=False)[0]
        field = INSTALL_ENV_PREFIX + str(item["loc"][0]).upper()
        return fail(termination_log(None), failure_message(DEPENDENCY_INSTALL_FAILED, f"{field}: {item['msg']}"), 2)
    log = termination_log(settings.termination_log)
    secrets = secret_env_values(settings.secret_env, os.environ)
    try:
        message = _install(settings, secrets)
    except FetchError as exc:
        return fail(log, scrub(str(exc), secrets), 1)
    except Exception as exc:  # never a traceback in an init container's termination message
        detail = scrub(f"{type(exc).__name__}: {exc}", secrets)
        return fail(log, one_line(failure_message(DEPENDENCY_INSTALL_FAILED, detail)), 1)
    write(log, message)
    print(message, flush=True)
    return 0


def _install(settings: InstallSettings, secrets: list[str]) -> str:
    """Install the requirements (when asked and present), link them from the code folder; the success line."""
    from predictorapi.gitfetch import FetchError
    from predictorapi.requirements import install_requirements

    if not settings.requirements:
        return "no requirements to install"
    root = Path(settings.code_dir).resolve()
    file = (root / settings.requirements).resolve()
    if not file.is_relative_to(root):
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"requirements {settings.requirements!r} is outside the code "
                         "folder")
    if not file.is_file() and settings.requirements_optional:
        return f"no {settings.requirements}: nothing to install"
    if not file.is_file():
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"requirements file {settings.requirements} not found in the "
                         "checked-out code")
    site, cached = install_requirements(file, root, Path(settings.packages_dir), settings.allowed_index_urls,
                                        secrets, settings.timeout)
    link = root / PACKAGES_LINK_NAME
    if link.is_symlink():  # this container restarted after linking
        link.unlink()
    link.symlink_to(site, target_is_directory=True)
    return f"requirements {settings.requirements} {'already installed' if cached else 'installed'} in {site}"
