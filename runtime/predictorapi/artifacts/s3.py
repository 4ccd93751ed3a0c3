"""`s3://BUCKET/KEY` (one object) or `s3://BUCKET/PREFIX/` (every object under it), with boto3.

Any S3-compatible endpoint (MinIO, Ceph, R2, ...) through `AWS_ENDPOINT_URL`; credentials as boto3 finds
them: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) from the secretRef, or the
pod's workload identity (IRSA). `AWS_REGION` / `AWS_DEFAULT_REGION` when the endpoint needs one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.uri import ModelURI, file_name

_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


def download(uri: ModelURI, dest: Path, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> None:
    """Download the object, or every object under the prefix, into `dest` (the prefix's layout kept)."""
    import botocore.exceptions

    client = _client(env, stall_seconds)
    try:
        objects = _objects(client, uri)
        for key, relative in objects:
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(uri.authority, key, str(target))
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


def _objects(client: Any, uri: ModelURI) -> list[tuple[str, PurePosixPath]]:
    """(key, path relative to the download folder) of each object to download."""
    import botocore.exceptions

    if not uri.is_prefix:
        try:
            client.head_object(Bucket=uri.authority, Key=uri.path)
            return [(uri.path, PurePosixPath(file_name(uri)))]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
    prefix = uri.path if uri.is_prefix else uri.path + "/"
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=uri.authority, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = PurePosixPath(item["Key"][len(prefix):])
            if item["Key"].endswith("/") or ".." in relative.parts or relative.is_absolute():
                continue  # a folder marker, or a key that would leave the download folder
            found.append((item["Key"], relative))
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
