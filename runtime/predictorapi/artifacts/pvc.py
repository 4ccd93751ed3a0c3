"""`pvc://CLAIM/PATH`: a PersistentVolumeClaim that already holds the model. Nothing is downloaded: in a
pod the claim is mounted read-only; `predictorapi serve` reads the folder `PVC_ROOT/CLAIM/PATH`."""

from __future__ import annotations

from pathlib import Path

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.uri import ModelURI


def local_folder(uri: ModelURI, pvc_root: Path) -> Path:
    """The local stand-in of the claim's folder; it must exist and stay inside the claim's folder."""
    claim = inside(pvc_root, uri.authority, f"the claims' folder {pvc_root}")
    folder = inside(claim, uri.path, f"the claim {uri.authority}") if uri.path else claim
    if not folder.exists():
        raise DownloadFailed(f"no folder {folder} (a pvc:// URI reads PVC_ROOT/CLAIM/PATH on this machine)")
    return folder
