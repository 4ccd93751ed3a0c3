"""`s3://BUCKET/KEY` (one object) or `s3://BUCKET/PREFIX/` (every object under it), with boto3.

Any S3-compatible endpoint (MinIO, Ceph, R2, ...) through `AWS_ENDPOINT_URL`; credentials as boto3 finds
them: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) from the secretRef, or the
pod's workload identity (IRSA). `AWS_REGION` / `AWS_DEFAULT_REGION` when the endpoint needs one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.source import Source
from predictorapi.artifacts.uri import ModelURI, file_name

_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


class _Object(NamedTuple):
    key: str
    name: str
    """Its path relative to the download folder."""
    etag: str
    version_id: str | None


def resolve(uri: ModelURI, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> Source:
    """List the object, or every object under the prefix, with their ETags (and version ids): the version."""
    client = _client(env, stall_seconds)
    with _errors(stall_seconds):
        objects = _objects(client, uri)
    listing = "\n".join(f"{o.key} {o.etag} {o.version_id or ''}" for o in objects)
    return Source(endpoint=client.meta.endpoint_url, version=hashlib.sha256(listing.encode()).hexdigest(),
                  revision=revision, download=lambda dest: _download(client, uri, objects, dest, stall_seconds))


def _download(client: Any, uri: ModelURI, objects: list[_Object], dest: Path, stall_seconds: float) -> None:
    """Download the listed objects into `dest` (the prefix's layout kept); a versioned object at the version
    listed."""
    targets = [(item, inside(dest, item.name)) for item in objects]
    with _errors(stall_seconds):
        for item, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            pinned = {"VersionId": item.version_id} if item.version_id else None
            client.download_file(uri.authority, item.key, str(target), ExtraArgs=pinned)


@contextmanager
def _errors(stall_seconds: float) -> Iterator[None]:
    """botocore's errors as :class:`DownloadFailed`."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as exc:
        raise DownloadFailed(_client_error(exc)) from None
    except botocore.exceptions.NoCredentialsError:
        raise DownloadFailed("no AWS credentials: put AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the secretRef, "
                             "or give the pod a workload identity") from None
    except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError):
        raise DownloadFailed(f"stalled: no data for {stall_seconds:g} s") from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise DownloadFailed(f"unreachable: {exc}") from None


def _client(env: Mapping[str, str], stall_seconds: float) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))
    config = Config(connect_timeout=stall_seconds, read_timeout=stall_seconds,
                    retries={"max_attempts": 3, "mode": "standard"})
    return session.client("s3", endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
                          config=config)


def _objects(client: Any, uri: ModelURI) -> list[_Object]:
    """Each object to download (folder markers left out)."""
    import botocore.exceptions

    if not uri.is_prefix:
        try:
            head = client.head_object(Bucket=uri.authority, Key=uri.path)
            return [_Object(uri.path, file_name(uri), head["ETag"], head.get("VersionId"))]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
    prefix = uri.path if uri.is_prefix else uri.path + "/"
    found = [_Object(item["Key"], item["Key"][len(prefix):], item["ETag"], None)
             for page in client.get_paginator("list_objects_v2").paginate(Bucket=uri.authority, Prefix=prefix)
             for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    if not found:
        raise DownloadFailed(f"no object s3://{uri.authority}/{uri.path} and none under s3://{uri.authority}/{prefix}")
    return found


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _client_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), error.get("Message") or ""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    text = f"HTTP {status}" if code == str(status) else f"{code} (HTTP {status})"
    text += f": {message}" if message else ""
    if code in _DENIED or status == 403:
        return f"access denied: {text}; check the AWS credentials in the secretRef"
    if code in _MISSING or status == 404:
        return f"not found: {text}"
    return text
