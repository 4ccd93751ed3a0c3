"""`gs://BUCKET/OBJECT` (one object) or `gs://BUCKET/PREFIX/` (every object under it), with
google-cloud-storage.

Credentials: `GOOGLE_APPLICATION_CREDENTIALS_JSON` (a service account key's JSON, as a secretRef key),
else Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS` naming a file, or the pod's
workload identity). `STORAGE_EMULATOR_HOST` points the client at an emulator (anonymous).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.source import Source
from predictorapi.artifacts.uri import ModelURI, file_name

CREDENTIALS_KEY = "GOOGLE_APPLICATION_CREDENTIALS_JSON"
EMULATOR_KEY = "STORAGE_EMULATOR_HOST"
DEFAULT_ENDPOINT = "https://storage.googleapis.com"


def resolve(uri: ModelURI, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> Source:
    """List the object, or every object under the prefix, with their generations: the version."""
    with _errors():
        blobs = _blobs(_client(env).bucket(uri.authority), uri)
    listing = "\n".join(f"{blob.name} {blob.generation}" for blob, _name in blobs)
    return Source(endpoint=env.get(EMULATOR_KEY) or DEFAULT_ENDPOINT,
                  version=hashlib.sha256(listing.encode()).hexdigest(), revision=revision,
                  download=lambda dest: _download(blobs, dest, stall_seconds))


def _download(blobs: list[tuple[Any, str]], dest: Path, stall_seconds: float) -> None:
    """Download the listed objects into `dest` (the prefix's layout kept), each at the generation listed."""
    targets = [(blob, inside(dest, name)) for blob, name in blobs]
    with _errors():
        for blob, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target), timeout=stall_seconds, if_generation_match=blob.generation)


@contextmanager
def _errors() -> Iterator[None]:
    """google-cloud-storage's errors as :class:`DownloadFailed`."""
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError

    try:
        yield
    except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
        raise DownloadFailed(f"access denied ({exc.code}): {exc.message}; check {CREDENTIALS_KEY} in the "
                             "secretRef") from None
    except exceptions.NotFound as exc:
        raise DownloadFailed(f"not found (404): {exc.message}") from None
    except exceptions.PreconditionFailed:
        raise DownloadFailed("an object changed during the download; start again") from None
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
    if env.get(EMULATOR_KEY):
        return storage.Client.create_anonymous_client()
    return storage.Client()


def _blobs(bucket: Any, uri: ModelURI) -> list[tuple[Any, str]]:
    """(blob, its path relative to the download folder) of each object to download (folder markers left out)."""
    if not uri.is_prefix and (blob := bucket.get_blob(uri.path)) is not None:
        return [(blob, file_name(uri))]
    prefix = uri.path if uri.is_prefix else uri.path + "/"
    found = [(blob, blob.name[len(prefix):]) for blob in bucket.list_blobs(prefix=prefix)
             if not blob.name.endswith("/")]
    if not found:
        raise DownloadFailed(f"no object gs://{uri.authority}/{uri.path} and none under gs://{uri.authority}/{prefix}")
    return found
