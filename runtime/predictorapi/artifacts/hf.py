"""`hf://ORG/NAME`: a Hugging Face model repository at `revision` (a commit SHA; a branch or tag is resolved
to its commit, which keys the cache), file by file with `huggingface_hub.hf_hub_download`: every name the Hub
lists is checked to stay inside the download folder before anything is written.

`HF_ENDPOINT` (a mirror or a private Hub) and `HF_TOKEN` (private and gated repositories) come from the
environment (the secretRef). A 40-hex `revision` must be the commit the Hub reports for it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.source import Source
from predictorapi.artifacts.uri import HF_COMMIT, ModelURI

PARALLEL_FILES = 8
"""Files downloaded at once (as `snapshot_download` does)."""


def resolve(uri: ModelURI, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> Source:
    """Resolve `revision` (default `main`) to its commit and list the repository's files at that commit; the
    commit is the version and the revision recorded."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import disable_progress_bars

    endpoint, token = env.get("HF_ENDPOINT") or None, env.get("HF_TOKEN") or None
    wanted = revision or "main"
    constants.HF_HUB_DOWNLOAD_TIMEOUT = int(max(1, stall_seconds))  # read at each file's GET
    disable_progress_bars()  # progress is logged from the folder's growth instead
    api = HfApi(endpoint=endpoint, token=token)
    with _errors(wanted):
        info = api.model_info(uri.authority, revision=wanted)
        commit = info.sha
        if not commit or (HF_COMMIT.match(wanted) and commit != wanted):
            raise DownloadFailed(f"revision mismatch: asked for commit {wanted}, the Hub serves {commit}")
        names = ([sibling.rfilename for sibling in info.siblings] if info.siblings is not None
                 else api.list_repo_files(uri.authority, revision=commit))

    def download(dest: Path) -> None:
        _download(uri.authority, commit, names, dest, endpoint, token, stall_seconds)

    return Source(endpoint=endpoint or constants.ENDPOINT, version=commit, revision=commit, download=download)


def _download(repo_id: str, commit: str, names: list[str], dest: Path, endpoint: str | None, token: str | None,
              stall_seconds: float) -> None:
    """Download each listed file of the repository at `commit` into `dest`, every name checked first."""
    from huggingface_hub import hf_hub_download

    for name in names:
        inside(dest, name)

    def one(name: str) -> None:
        hf_hub_download(repo_id, name, revision=commit, local_dir=dest, endpoint=endpoint, token=token,
                        etag_timeout=stall_seconds)

    with _errors(commit), ThreadPoolExecutor(PARALLEL_FILES, thread_name_prefix="hf-download") as pool:
        list(pool.map(one, names))
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # hf_hub_download's own bookkeeping


@contextmanager
def _errors(revision: str) -> Iterator[None]:
    """huggingface_hub's errors as :class:`DownloadFailed`."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except GatedRepoError:
        raise DownloadFailed("gated repository: accept its terms on the Hub, put HF_TOKEN in the secretRef") from None
    except RevisionNotFoundError:
        raise DownloadFailed(f"revision {revision} not found") from None
    except RepositoryNotFoundError:
        raise DownloadFailed("repository not found, or private (put HF_TOKEN in the secretRef)") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = "; check HF_TOKEN in the secretRef" if status in (401, 403) else ""
        raise DownloadFailed(f"HTTP {status} from the Hub{hint}") from None
