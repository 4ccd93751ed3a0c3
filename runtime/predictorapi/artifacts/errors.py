"""The one error a download raises, its termination-message line, and the secrets scrubbed from both."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from predictorapi.contracts.termination import MODEL_DOWNLOAD_FAILED, failure_message
from predictorapi.gitfetch import one_line
from predictorapi.secrets_scrub import redact_url, scrub, secret_env_values

SECRET_KEYS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "HF_TOKEN", "HTTP_AUTHORIZATION",
               "GOOGLE_APPLICATION_CREDENTIALS_JSON")
"""The secretRef keys (environment variables) of a download that are secrets."""


class DownloadFailed(Exception):
    """A download that cannot succeed by retrying now; `detail` is one line, URL credentials redacted."""

    def __init__(self, detail: str) -> None:
        self.detail = one_line(redact_url(detail))
        super().__init__(self.detail)


def download_secrets(env: Mapping[str, str]) -> list[str]:
    """The secrets a download was given in `env`, and the private key inside a Google service account key."""
    found = secret_env_values(SECRET_KEYS, env)
    try:
        key = json.loads(env.get("GOOGLE_APPLICATION_CREDENTIALS_JSON") or "{}").get("private_key")
    except (ValueError, AttributeError):
        key = None
    return [*found, *([key] if isinstance(key, str) else [])]


def failure_line(uri: str, detail: str, secrets: Iterable[str] = ()) -> str:
    """`ModelDownloadFailed: <uri, credentials redacted>: <detail>` (the init container's termination message),
    with `secrets` (see :func:`download_secrets`) scrubbed."""
    return one_line(failure_message(MODEL_DOWNLOAD_FAILED, f"{redact_url(uri)}: {scrub(detail, secrets)}"))
