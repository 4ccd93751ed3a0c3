"""`hf://ORG/NAME`: a Hugging Face model repository at `revision` (a commit SHA; a branch or tag is resolved
to its commit), with `huggingface_hub.snapshot_download`.

`HF_ENDPOINT` (a mirror or a private Hub) and `HF_TOKEN` (private and gated repositories) come from the
environment (the secretRef). A 40-hex `revision` must be the commit the Hub reports for it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.uri import HF_COMMIT, ModelURI


def download(uri: ModelURI, dest: Path, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> None:
    """Download every file of the repository at `revision` (default `main`) into `dest`."""
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import disable_progress_bars

    endpoint, token = env.get("HF_ENDPOINT") or None, env.get("HF_TOKEN") or None
    wanted = revision or "main"
    constants.HF_HUB_DOWNLOAD_TIMEOUT = int(max(1, stall_seconds))  # read at each file's GET
    disable_progress_bars()  # progress is logged from the folder's growth instead
    try:
        commit = HfApi(endpoint=endpoint, token=token).model_info(uri.authority, revision=wanted).sha
        if HF_COMMIT.match(wanted) and commit != wanted:
            raise DownloadFailed(f"revision mismatch: asked for commit {wanted}, the Hub serves {commit}")
        snapshot_download(uri.authority, revision=commit, local_dir=dest, endpoint=endpoint, token=token,
                          etag_timeout=stall_seconds)
    except GatedRepoError:
        raise DownloadFailed("gated repository: accept its terms on the Hub, put HF_TOKEN in the secretRef") from None
    except RevisionNotFoundError:
        raise DownloadFailed(f"revision {wanted} not found") from None
    except RepositoryNotFoundError:
        raise DownloadFailed("repository not found, or private (put HF_TOKEN in the secretRef)") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = "; check HF_TOKEN in the secretRef" if status in (401, 403) else ""
        raise DownloadFailed(f"HTTP {status} from the Hub{hint}") from None
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # snapshot_download's own bookkeeping
