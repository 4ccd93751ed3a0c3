"""`gs://` with google-cloud-storage against a loopback Cloud Storage JSON API (`STORAGE_EMULATOR_HOST`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.artifact_servers import Bucket, storage_server

from .conftest import fetch_model

OBJECTS = {"sentiment/v3/weights.json": b'{"good": 1}', "sentiment/v3/vocab/words.txt": b"good\n",
           "other/x.bin": b"x"}


@pytest.fixture
def bucket() -> Bucket:
    return Bucket("my-models", dict(OBJECTS))


def _fetch(bucket: Bucket, uri: str, tmp_path: Path) -> tuple[int, str]:
    with storage_server(bucket) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", uri, "--cache-dir", str(tmp_path / "cache"),
                             env={"STORAGE_EMULATOR_HOST": endpoint}, termination_log=log)
    return result.returncode, log.read_text()


def test_a_prefix_is_downloaded_with_its_layout(bucket: Bucket, tmp_path: Path) -> None:
    code, message = _fetch(bucket, "gs://my-models/sentiment/v3/", tmp_path)
    assert code == 0, message
    folder = Path(json.loads(message)["path"])
    assert (folder / "vocab" / "words.txt").read_bytes() == b"good\n"
    assert (folder / "weights.json").read_bytes() == b'{"good": 1}'
    assert dict(bucket.gets) == {"sentiment/v3/weights.json": 1, "sentiment/v3/vocab/words.txt": 1}


def test_one_object_lands_under_its_name(bucket: Bucket, tmp_path: Path) -> None:
    code, message = _fetch(bucket, "gs://my-models/other/x.bin", tmp_path)
    assert code == 0, message
    assert (Path(json.loads(message)["path"]) / "x.bin").read_bytes() == b"x"


def test_forbidden_and_missing_fail_naming_the_uri(bucket: Bucket, tmp_path: Path) -> None:
    code, message = _fetch(bucket, "gs://my-models/sentiment/v4/", tmp_path)
    assert code == 1 and message.startswith("ModelDownloadFailed: gs://my-models/sentiment/v4/: no object")
    bucket.forbidden = True
    code, message = _fetch(bucket, "gs://my-models/sentiment/v3/", tmp_path)
    assert code == 1 and message.startswith("ModelDownloadFailed: gs://my-models/sentiment/v3/: access denied (403)")


def test_an_object_name_leaving_the_download_folder_is_refused(tmp_path: Path) -> None:
    """Issue 25, point 2 (gs://): the same check as every scheme's, before anything is written."""
    bucket = Bucket("my-models", {**OBJECTS, "sentiment/v3/../../gs-escaped.bin": b"x"})
    code, message = _fetch(bucket, "gs://my-models/sentiment/v3/", tmp_path)
    assert code == 1
    assert message == ("ModelDownloadFailed: gs://my-models/sentiment/v3/: refusing '../../gs-escaped.bin': it leads "
                       "outside the download folder")
    assert not list(tmp_path.rglob("gs-escaped.bin")) and not bucket.gets
