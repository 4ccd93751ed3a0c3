"""`predictorapi fetch-model` against a real S3 API (moto's server on loopback): a prefix, one object, and the
failures an init container must report as `ModelDownloadFailed` naming the URI."""

from __future__ import annotations

import json
from pathlib import Path

from support.s3 import S3, s3_server_process

from predictorapi.runtime.loader import construct, load_class, with_model_path

from .conftest import MODEL_FILES, fetch_model
from .conftest import folder as fetched_folder

PREDICTOR = '''
import json, os, pathlib

class PythonPredictor:
    def __init__(self, config):
        folder = pathlib.Path(config["model_path"])
        assert str(folder) == os.environ.get("PREDICTORAPI_MODEL_PATH", str(folder))
        self.words = json.loads((folder / "weights.json").read_text())
        self.vocab = (folder / "vocab" / "words.txt").read_text().split()

    def predict(self, payload):
        return {"label": "positive" if payload["text"] in self.words["positive"] else "negative",
                "vocab": len(self.vocab)}
'''


def test_a_prefix_is_downloaded_and_a_predictor_loads_it(s3: S3, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    result = fetch_model("--uri", "s3://models/sentiment/v3/", "--cache-dir", str(tmp_path / "cache"),
                         env=s3.env(), termination_log=log)
    assert result.returncode == 0, result.stderr
    folder = fetched_folder(log)
    assert folder.parent == tmp_path / "cache"
    assert (folder / "weights.json").read_bytes() == MODEL_FILES["sentiment/v3/weights.json"]
    assert (folder / "vocab" / "words.txt").read_bytes() == MODEL_FILES["sentiment/v3/vocab/words.txt"]
    assert "downloaded s3://models/sentiment/v3/" in result.stdout and "MiB/s" in result.stdout
    assert json.loads((folder / ".predictorapi-model.json").read_text())["bytes"] == sum(map(len, MODEL_FILES.values()))

    (tmp_path / "predictor.py").write_text(PREDICTOR)
    predictor = construct(load_class(tmp_path / "predictor.py", "PythonPredictor"), with_model_path({}, str(folder)))
    assert predictor.predict({"text": "great"}) == {"label": "positive", "vocab": 3}


def test_one_object_lands_under_its_name(s3: S3, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    result = fetch_model("--uri", "s3://models/sentiment/v3/weights.json", "--cache-dir", str(tmp_path),
                         env=s3.env(), termination_log=log)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in fetched_folder(log).iterdir()) == [".predictorapi-model.json", "weights.json"]


def test_a_wrong_key_fails_with_403_naming_the_uri(s3: S3, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    result = fetch_model("--uri", "s3://models/sentiment/v3/", "--cache-dir", str(tmp_path),
                         env=s3.env(AWS_SECRET_ACCESS_KEY="not-the-key"), termination_log=log)
    assert result.returncode == 1
    message = log.read_text()
    assert message.startswith("ModelDownloadFailed: s3://models/sentiment/v3/: access denied: ")
    assert "403" in message and "not-the-key" not in message
    assert result.stderr.strip() == message and "\n" not in message
    assert not any(p.name == "sentiment" for p in tmp_path.iterdir())


def test_a_missing_object_fails_naming_the_uri(s3: S3, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    result = fetch_model("--uri", "s3://models/sentiment/v4/", "--cache-dir", str(tmp_path), env=s3.env(),
                         termination_log=log)
    assert result.returncode == 1
    assert log.read_text().startswith("ModelDownloadFailed: s3://models/sentiment/v4/: no object")


def test_a_missing_bucket_is_not_found(s3: S3, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    result = fetch_model("--uri", "s3://no-such-bucket/model.bin", "--cache-dir", str(tmp_path), env=s3.env(),
                         termination_log=log)
    assert result.returncode == 1
    assert log.read_text().startswith("ModelDownloadFailed: s3://no-such-bucket/model.bin: not found: NoSuchBucket")


def test_settings_come_from_the_environment_as_the_operator_sets_them(s3: S3, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    env = {**s3.env(), "PREDICTORAPI_MODEL_URI": "s3://models/sentiment/v3/", "PREDICTORAPI_MODEL_REVISION": "run-7",
           "PREDICTORAPI_MODEL_CACHE_DIR": str(tmp_path / "cache")}
    result = fetch_model(env=env, termination_log=log)
    assert result.returncode == 0, result.stderr
    assert fetched_folder(log).name.startswith("s3-v3-")


def test_a_missing_uri_is_an_invalid_request(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    result = fetch_model(env={}, termination_log=log)
    assert result.returncode == 2
    assert log.read_text() == "InvalidRequest: missing --uri (PREDICTORAPI_MODEL_URI)"


def test_another_endpoint_with_the_same_bucket_and_key_is_its_own_download(s3: S3, tmp_path: Path) -> None:
    """Issue 25, point 6: the cache key includes the endpoint; a second endpoint's object is not served from the
    first one's folder."""
    args = ("--uri", "s3://models/sentiment/v3/weights.json", "--cache-dir", str(tmp_path / "cache"))
    with s3_server_process() as other:
        other.put("models", {"sentiment/v3/weights.json": b'{"served by": "the other endpoint"}'})
        first = fetch_model(*args, env=s3.env(), termination_log=tmp_path / "first")
        second = fetch_model(*args, env=other.env(), termination_log=tmp_path / "second")
    print(first.stdout.splitlines()[-1], second.stdout.splitlines()[-1], sep="\n")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert second.stdout.splitlines()[-1].startswith("downloaded: ")
    first_folder, second_folder = fetched_folder(tmp_path / "first"), fetched_folder(tmp_path / "second")
    assert first_folder != second_folder
    assert (first_folder / "weights.json").read_bytes() == MODEL_FILES["sentiment/v3/weights.json"]
    assert (second_folder / "weights.json").read_bytes() == b'{"served by": "the other endpoint"}'


def test_new_content_under_the_same_key_is_downloaded_again(s3: S3, tmp_path: Path) -> None:
    """Issue 25, point 6: the cache key includes the objects' ETags."""
    args = ("--uri", "s3://models/changing/", "--cache-dir", str(tmp_path / "cache"))
    s3.put("models", {"changing/m.bin": b"first weights"})
    first = fetch_model(*args, env=s3.env(), termination_log=tmp_path / "first")
    again = fetch_model(*args, env=s3.env(), termination_log=tmp_path / "again")
    s3.put("models", {"changing/m.bin": b"second weights"})
    changed = fetch_model(*args, env=s3.env(), termination_log=tmp_path / "changed")
    assert [r.stdout.splitlines()[-1].split(":")[0] for r in (first, again, changed)] == ["downloaded", "cached",
                                                                                          "downloaded"]
    assert (fetched_folder(tmp_path / "again") / "m.bin").read_bytes() == b"first weights"
    assert (fetched_folder(tmp_path / "changed") / "m.bin").read_bytes() == b"second weights"
