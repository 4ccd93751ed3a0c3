"""The `fetch-code` and `fetch-model` init containers' termination message, written by `predictorapi fetch`
and `predictorapi fetch-model` and read by the operator's status.

Success: the checked-out commit SHA alone (`fetch-model`: the model's folder). Failure: one line
`<Reason>: <detail>`, where `Reason` is CamelCase and becomes the `Degraded` condition's reason.
"""

from __future__ import annotations

REVISION_FILE = ".predictorapi-revision"
"""File in the code folder holding the checked-out commit SHA."""
MAX_LENGTH = 4000
"""Kubernetes keeps at most 4096 bytes of a termination message."""
DEFAULT_REASON = "FetchFailed"
DEPENDENCY_INSTALL_FAILED = "DependencyInstallFailed"
"""The reason of a failed `pip install` of the predictor's requirements by `fetch-code`: pip's last lines."""
MODEL_DOWNLOAD_FAILED = "ModelDownloadFailed"
"""The reason of every `fetch-model` failure: `ModelDownloadFailed: <uri, credentials redacted>: <detail>`."""


def failure_message(reason: str, detail: str) -> str:
    """The one-line failure message: `<Reason>: <detail>`."""
    return f"{reason}: {detail}"


def parse_failure(message: str, default: str = DEFAULT_REASON) -> tuple[str, str]:
    """(reason, detail) of a failure message; the reason is `default` (`FetchFailed`) when it has none."""
    reason, sep, detail = message.partition(": ")
    if sep and reason.isalnum():
        return reason, detail
    return default, message


def parse_revision(message: str) -> str:
    """The commit SHA of a success message."""
    return message.strip()[:64]
