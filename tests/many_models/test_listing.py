"""Listing `spec.models` (issue 27): versions are the integer subfolders, a folder without any is one version, `dir`
holds one model per subfolder; against moto's S3 on loopback and local (pvc://) folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from many_models.models_support import CLAIM, s3_files, write_version
from support.s3 import S3, s3_server

from predictorapi.contracts.models import MODEL_LABEL_CAP, OTHER_MODEL_LABEL, SINGLE_MODEL_NAME
from predictorapi.models.listing import (
    ListingFailed,
    ModelSource,
    list_source,
    model_from_entries,
    sources,
    split_models,
)
from predictorapi.models.metrics import ModelLabels


@pytest.fixture
def s3() -> Iterator[S3]:
    with s3_server() as server:
        yield server


def versions(models: dict) -> dict[str, list[int]]:
    return {name: sorted(model.versions) for name, model in models.items()}


def test_integer_subfolders_are_versions_and_the_highest_is_latest() -> None:
    model = model_from_entries("m", "s3://b/m/", [("1/a.bin", "e1"), ("2/a.bin", "e2"), ("10/x/y.bin", "e3"),
                                                  ("README.md", "e4"), ("variables/v.bin", "e5"), ("007/a", "e6")])
    assert sorted(model.versions) == [1, 2, 10] and model.latest == 10 and model.versioned
    assert model.version_uri(10) == "s3://b/m/10/"
    assert model.to_json() == {"versions": [1, 2, 10], "latest": 10}


def test_a_folder_without_integer_subfolders_is_one_version_the_folder_itself() -> None:
    model = model_from_entries("m", "s3://b/m/", [("", "marker"), ("saved_model.pb", "e"), ("variables/v", "f")])
    assert dict(model.versions).keys() == {1} and not model.versioned
    assert model.version_uri(1) == "s3://b/m/"
    empty = model_from_entries("m", "s3://b/m/", [("", "the folder's own marker")])
    assert empty.versions == {} and empty.latest is None


def test_a_rewritten_version_gets_a_new_stamp() -> None:
    before = model_from_entries("m", "s3://b/m/", [("1/a", "etag-1"), ("2/a", "etag-2")])
    after = model_from_entries("m", "s3://b/m/", [("1/a", "etag-1"), ("2/a", "etag-2b")])
    assert before.versions[1] == after.versions[1] and before.versions[2] != after.versions[2]


def test_dir_splits_by_first_folder_and_ignores_loose_files() -> None:
    split = split_models([("a/1/m", "1"), ("b/m", "2"), ("loose.txt", "3"), (".hidden/1/m", "4")])
    assert split == {"a": [("1/m", "1")], "b": [("m", "2")]}


def test_sources_of_each_form() -> None:
    assert sources({"uri": "s3://b/m"}) == (ModelSource("s3://b/m/", SINGLE_MODEL_NAME),)
    assert sources({"dir": "gs://b/models"}) == (ModelSource("gs://b/models/", None),)
    assert sources({"paths": [{"name": "x", "uri": "pvc://c/x"}]}) == (ModelSource("pvc://c/x", "x"),)
    with pytest.raises(ValueError, match="exactly one of"):
        sources({"cacheSize": 3})


def test_s3_uri_paths_and_dir(s3: S3) -> None:
    s3.put("bucket", {**s3_files("models/", {"mpg": [1, 2], "iris": [3]}), "models/mpg/4/": b"",
                      "single/saved_model.pb": b"x", "single/variables/v.bin": b"y"})
    env = s3.env()
    assert versions(list_source(ModelSource("s3://bucket/models/mpg/"), env)) == {SINGLE_MODEL_NAME: [1, 2]}
    found = list_source(ModelSource("s3://bucket/single/", "single"), env)
    assert versions(found) == {"single": [1]} and not found["single"].versioned
    in_dir = list_source(ModelSource("s3://bucket/models/", None), env)
    assert versions(in_dir) == {"mpg": [1, 2], "iris": [3]}
    assert in_dir["iris"].version_uri(3) == "s3://bucket/models/iris/3/"
    missing = list_source(ModelSource("s3://bucket/nothing/", "nothing"), env)
    assert versions(missing) == {"nothing": []}


def test_s3_errors_are_listing_failures_naming_the_uri(s3: S3) -> None:
    with pytest.raises(ListingFailed, match=r"s3://no-such-bucket/m/: not found"):
        list_source(ModelSource("s3://no-such-bucket/m/"), s3.env())
    s3.put("bucket", {"m/1/a": b"a"})
    with pytest.raises(ListingFailed, match="access denied"):
        list_source(ModelSource("s3://bucket/m/"), s3.env(AWS_SECRET_ACCESS_KEY="wrong"))


def test_pvc_folders_versioned_unversioned_and_dir(tmp_path: Path) -> None:
    root = tmp_path / CLAIM / "models"
    write_version(root, "mpg", 1, "mpg v1")
    write_version(root, "mpg", 2, "mpg v2")
    (root / "mpg" / "notes").mkdir()
    write_version(root, "plain", None, "plain")
    (root / "plain" / "variables").mkdir()
    (root / "plain" / "variables" / "v.bin").write_text("v")
    (root / "empty").mkdir()
    (root / "mpg" / "3").mkdir()  # an empty version folder is no version
    assert versions(list_source(ModelSource(f"pvc://{CLAIM}/models/mpg"), {}, tmp_path)) == {"_": [1, 2]}
    plain = list_source(ModelSource(f"pvc://{CLAIM}/models/plain", "plain"), {}, tmp_path)["plain"]
    assert sorted(plain.versions) == [1] and plain.version_uri(1) == f"pvc://{CLAIM}/models/plain"
    in_dir = list_source(ModelSource(f"pvc://{CLAIM}/models", None), {}, tmp_path)
    assert versions(in_dir) == {"mpg": [1, 2], "plain": [1]}  # an empty folder is no model (as in a bucket)
    assert versions(list_source(ModelSource(f"pvc://{CLAIM}/models/gone", "gone"), {}, tmp_path)) == {"gone": []}
    with pytest.raises(ListingFailed, match="no folder"):
        list_source(ModelSource("pvc://other-claim/models", None), {}, tmp_path)


def test_https_is_refused_and_hf_is_one_version() -> None:
    with pytest.raises(ListingFailed, match="cannot be listed"):
        list_source(ModelSource("https://example.com/model.bin", "x"), {})
    hf = list_source(ModelSource("hf://org/model", "m"), {})["m"]
    assert sorted(hf.versions) == [1] and hf.version_uri(1) == "hf://org/model"
    with pytest.raises(ListingFailed, match="one model"):
        list_source(ModelSource("hf://org/model", None), {})


def test_the_model_label_is_capped() -> None:
    labels = ModelLabels()
    names = [f"model-{i}" for i in range(MODEL_LABEL_CAP + 5)]
    assert [labels(name) for name in names][:MODEL_LABEL_CAP] == names[:MODEL_LABEL_CAP]
    assert {labels(name) for name in names[MODEL_LABEL_CAP:]} == {OTHER_MODEL_LABEL}
    assert labels(names[0]) == names[0]
