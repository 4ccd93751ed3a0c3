"""The one error a download raises, and its termination-message line."""

from __future__ import annotations

from predictorapi.contracts.termination import MODEL_DOWNLOAD_FAILED, failure_message
from predictorapi.gitfetch import one_line, redact_url


class DownloadFailed(Exception):
    """A download that cannot succeed by retrying now; `detail` is one line, without secrets."""

    def __init__(self, detail: str) -> None:
        self.detail = one_line(redact_url(detail))
        super().__init__(self.detail)


def failure_line(uri: str, detail: str) -> str:
    """`ModelDownloadFailed: <uri, credentials redacted>: <detail>` (the init container's termination message)."""
    return one_line(failure_message(MODEL_DOWNLOAD_FAILED, f"{redact_url(uri)}: {redact_url(detail)}"))
