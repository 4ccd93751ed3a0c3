"""`gs://BUCKET/OBJECT` (one object) or `gs://BUCKET/PREFIX/` (every object under it), with
google-cloud-storage.

Credentials: `GOOGLE_APPLICATION_CREDENTIALS_JSON` (a service account key's JSON, as a secretRef key),
else Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS` naming a file, or the pod's
workload identity). `STORAGE_EMULATOR_HOST` points the client at an emulator (anonymous).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.uri import ModelURI, file_name

CREDENTIALS_KEY = "GOOGLE_APPLICATION_CREDENTIALS_JSON"


def download(uri: ModelURI, dest: Path, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> None:
    """Download the object, or every object under the prefix, into `dest` (the prefix's layout kept)."""
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError

    try:
        bucket = _client(env).bucket(uri.authority)
        for blob, relative in _blobs(bucket, uri):
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target), timeout=stall_seconds)
    except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
        raise DownloadFailed(f"access denied ({exc.code}): {exc.message}; check {CREDENTIALS_KEY} in the "
                             "secretRef") from None
    except exceptions.NotFound as exc:
        raise DownloadFailed(f"not found (404): {exc.message}") from None
    except DefaultCredentialsError:
        raise DownloadFailed(f"no Google credentials: put {CREDENTIALS_KEY} in the secretRef, or give the pod a "
                             "workload identity") from None


def _client(env: Mapping[str, str]) -> Any:
    from google.cloud import storage

    if env.get(CREDENTIALS_KEY):
        from google.oauth2 import service_account

        info = json.loads(env[CREDENTIALS_KEY])
        credentials = service_account.Credentials.from_service_account_info(info)
        return storage.Client(project=info.get("project_id"), credentials=credentials)
    if env.get("STORAGE_EMULATOR_HOST"):
        return storage.Client.create_anonymous_client()
    return storage.Client()


def _blobs(bucket: Any, uri: ModelURI) -> list[tuple[Any, PurePosixPath]]:
    """(blob, path relative to the download folder) of each object to download."""
    if not uri.is_prefix and (blob := bucket.get_blob(uri.path)) is not None:
        return [(blob, PurePosixPath(file_name(uri)))]
    prefix = uri.path if uri.is_prefix else uri.path + "/"
    found = []
    for blob in bucket.list_blobs(prefix=prefix):
        relative = PurePosixPath(blob.name[len(prefix):])
        if not blob.name.endswith("/") and ".." not in relative.parts and not relative.is_absolute():
            found.append((blob, relative))
    if not found:
        raise DownloadFailed(f"no object gs://{uri.authority}/{uri.path} and none under gs://{uri.authority}/{prefix}")
    return found
