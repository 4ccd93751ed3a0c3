"""The `fetch-code`, `install-packages` and `fetch-model` init containers' termination message, written by
`predictorapi fetch`, `predictorapi install-packages` and `predictorapi fetch-model` and read by the operator's
status.

Success: the checked-out commit SHA alone (`install-packages`: one informative line; `fetch-model`:
`ModelFetched` as JSON). Failure: one line
`<Reason>: <detail>`, where `Reason` is CamelCase and becomes the `Degraded` condition's reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from predictorapi.contracts.pod import INSTALL_CONTAINER, MODEL_CONTAINER

REVISION_FILE = ".predictorapi-revision"
"""File in the code folder holding the checked-out commit SHA."""
MAX_LENGTH = 4000
"""Kubernetes keeps at most 4096 bytes of a termination message."""
DEFAULT_REASON = "FetchFailed"
DEPENDENCY_INSTALL_FAILED = "DependencyInstallFailed"
"""The reason of every `install-packages` failure (a refused requirements file, a failed `pip install` with pip's
last lines, a package shadowing the runtime)."""
PREDICTOR_LOAD_FAILED = "PredictorLoadFailed"
"""The runtime container's termination message when the predictor fails to load:
`PredictorLoadFailed: <ExceptionType>: <message>`."""
WORKERS_CRASHING = "WorkersCrashing"
"""The runtime container's termination message when `processesPerReplica` workers crashed too often after loading:
`WorkersCrashing: <N> worker crashes within <window>s, the last exited with <code>`."""
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


def default_reason(container: str) -> str:
    """The reason of an init container's failure whose message has none (a crash before it could write one)."""
    return {INSTALL_CONTAINER: DEPENDENCY_INSTALL_FAILED, MODEL_CONTAINER: MODEL_DOWNLOAD_FAILED}.get(container,
                                                                                                   DEFAULT_REASON)


def parse_revision(message: str) -> str:
    """The commit SHA of a success message."""
    return message.strip()[:64]


@dataclass(frozen=True)
class ModelFetched:
    """`fetch-model`'s success: the model's folder and the revision it resolved to (an hf:// commit)."""

    path: str
    revision: str | None


def model_fetched_message(fetched: ModelFetched) -> str:
    """`fetch-model`'s success message: `{"path": FOLDER, "revision": REVISION}` (compact JSON)."""
    return json.dumps({"path": fetched.path, "revision": fetched.revision}, separators=(",", ":"))


def parse_model_fetched(message: str) -> ModelFetched | None:
    """The success message of `fetch-model`; None when it is not one."""
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("path"), str):
        return None
    revision = document.get("revision")
    return ModelFetched(document["path"], revision if isinstance(revision, str) else None)
