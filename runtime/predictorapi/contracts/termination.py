"""The `fetch-code` init container's termination message, written by `predictorapi fetch` and read
by the operator's status.

Success: the checked-out commit SHA alone. Failure: one line `<Reason>: <detail>`, where `Reason`
is CamelCase and becomes the `Degraded` condition's reason.
"""

from __future__ import annotations

REVISION_FILE = ".predictorapi-revision"
"""File in the code folder holding the checked-out commit SHA."""
MAX_LENGTH = 4000
"""Kubernetes keeps at most 4096 bytes of a termination message."""
DEFAULT_REASON = "FetchFailed"


def failure_message(reason: str, detail: str) -> str:
    """The one-line failure message: `<Reason>: <detail>`."""
    return f"{reason}: {detail}"


def parse_failure(message: str) -> tuple[str, str]:
    """(reason, detail) of a failure message; the reason is `FetchFailed` when it has none."""
    reason, sep, detail = message.partition(": ")
    if sep and reason.isalnum():
        return reason, detail
    return DEFAULT_REASON, message


def parse_revision(message: str) -> str:
    """The commit SHA of a success message."""
    return message.strip()[:64]
