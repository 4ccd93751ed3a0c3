"""What a scheme resolves a model URI to before anything is downloaded: the endpoint, the exact version the
store reports, and the download itself. The cache key is made from them (`Source.identity`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """A download resolved to one endpoint and one version."""

    endpoint: str
    """Where the bytes come from (`AWS_ENDPOINT_URL`, `HF_ENDPOINT`, `STORAGE_EMULATOR_HOST`, the URL's origin)."""
    version: str
    """What the store says the content is: ETags / version ids (s3), generations (gs), the commit (hf)."""
    revision: str | None
    """The revision recorded and reported: the resolved commit (hf), else the spec's `revision`."""
    download: Callable[[Path], None]
    """Write the content into an empty folder; raises `DownloadFailed`."""

    @property
    def identity(self) -> str:
        """The part of the cache key that the URI and revision do not say."""
        return f"{self.endpoint}\n{self.version}"
