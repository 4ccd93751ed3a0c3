"""Model URIs: what each scheme parses to, the cache key, and the failure line (credentials redacted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from predictorapi.artifacts.errors import DownloadFailed, download_secrets, failure_line
from predictorapi.artifacts.fetch import ModelRequest, model_folder
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.uri import InvalidModelURI, cache_key, file_name, parse


@pytest.mark.parametrize(("uri", "scheme", "authority", "path", "prefix"), [
    ("s3://models/sentiment/v3/", "s3", "models", "sentiment/v3/", True),
    ("s3://models/sentiment/v3/model.onnx", "s3", "models", "sentiment/v3/model.onnx", False),
    ("s3://models", "s3", "models", "", True),
    ("gs://my_bucket/sentiment/v3/", "gs", "my_bucket", "sentiment/v3/", True),
    ("gs://my_bucket/model.pt", "gs", "my_bucket", "model.pt", False),
    ("hf://distilbert/distilbert-base-uncased", "hf", "distilbert/distilbert-base-uncased", "", True),
    ("hf://gpt2", "hf", "gpt2", "", True),
    ("https://models.example:8443/a/model%20v3.onnx", "https", "models.example:8443", "/a/model v3.onnx", False),
    ("pvc://model-store/sentiment/v3", "pvc", "model-store", "sentiment/v3", False),
])
def test_each_scheme_parses(uri: str, scheme: str, authority: str, path: str, prefix: bool) -> None:
    parsed = parse(uri)
    assert (parsed.scheme, parsed.authority, parsed.path) == (scheme, authority, path)
    if scheme in ("s3", "gs"):
        assert parsed.is_prefix == prefix


@pytest.mark.parametrize("uri", ["ftp://host/m", "s3:/models/m", "s3:///m", "gs://b/../etc", "hf://a/b/c",
                                 "https://user:pw@host/m", "pvc://", "s3://models/my model", "pvc://weights//etc",
                                 "pvc://c/a/../..", "pvc://c/..", "pvc://c//"])
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidModelURI):
        parse(uri)


def test_the_file_name_of_a_single_file_download() -> None:
    assert file_name(parse("https://h.example/a/model.onnx")) == "model.onnx"
    assert file_name(parse("https://h.example/")) == "model"
    assert file_name(parse("gs://bucket/weights.bin")) == "weights.bin"


def test_the_cache_key_is_readable_stable_and_per_revision_endpoint_and_version() -> None:
    key = cache_key("s3://models/sentiment/v3/", "8c1d2e")
    assert key.startswith("s3-v3-") and len(key) <= 61 and key == cache_key("s3://models/sentiment/v3/", "8c1d2e")
    assert key != cache_key("s3://models/sentiment/v3/", None) != cache_key("s3://models/sentiment/v4/", None)
    assert cache_key("hf://org/name", "a" * 40).startswith("hf-org-name-")
    one, other = "http://127.0.0.1:9000\netag-1", "http://127.0.0.1:9001\netag-1"
    assert cache_key("s3://models/m/", None, one) != cache_key("s3://models/m/", None, other) != key


@pytest.mark.parametrize(("uri", "path"), [("pvc://c/a//b/./c/", "a/b/c"), ("pvc://c", ""), ("pvc://c/.", ""),
                                           ("pvc://c/a/...", "a/...")])
def test_a_pvc_path_is_normalised_inside_the_claim(uri: str, path: str) -> None:
    assert parse(uri).path == path


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "", "a/..", ".."])
def test_a_name_leaving_the_download_folder_is_refused(name: str, tmp_path: Path) -> None:
    """Issue 25, point 2: the one check every scheme's downloaded names pass."""
    with pytest.raises(DownloadFailed, match="leads outside the download folder"):
        inside(tmp_path / "dest", name)


def test_a_name_is_refused_through_a_symlink_leaving_the_folder(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "dest", "a/./b.bin") == tmp_path / "dest" / "a" / "b.bin"
    with pytest.raises(DownloadFailed, match="through a symlink"):
        inside(tmp_path / "dest", "link/x")


def test_the_failure_line_redacts_credentials() -> None:
    line = failure_line("https://user:hunter2@h.example/m.bin?sig=abc#frag", "HTTP 403 Forbidden")
    assert line == "ModelDownloadFailed: https://***@h.example/m.bin?sig=***#***: HTTP 403 Forbidden"


def test_the_failure_line_scrubs_the_secrets_of_the_environment() -> None:
    env = {"HF_TOKEN": "hf_0123456789", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "AWS_REGION": "eu-west-1",
           "GOOGLE_APPLICATION_CREDENTIALS_JSON": '{"private_key": "-----BEGIN KEY-----abc"}'}
    line = failure_line("hf://org/name", "echoed hf_0123456789, wJalrXUtnFEMI and -----BEGIN KEY-----abc in eu-west-1",
                        download_secrets(env))
    assert line == "ModelDownloadFailed: hf://org/name: echoed ***, *** and *** in eu-west-1"


def test_a_pvc_folder_leaving_the_claim_through_a_symlink_is_refused(tmp_path: Path) -> None:
    """Issue 25, point 9, for `predictorapi serve`: the claim's folder must stay inside the claim."""
    (tmp_path / "model-store").mkdir()
    (tmp_path / "model-store" / "etc").symlink_to("/etc")
    with pytest.raises(DownloadFailed, match="outside the claim model-store"):
        model_folder(ModelRequest("pvc://model-store/etc", None, tmp_path, pvc_root=tmp_path), on_stall=print)


def test_a_pvc_uri_is_a_local_folder_for_serve(tmp_path: Path) -> None:
    (tmp_path / "model-store" / "sentiment").mkdir(parents=True)
    found = model_folder(ModelRequest("pvc://model-store/sentiment", None, tmp_path / "cache", pvc_root=tmp_path),
                         on_stall=print)
    assert found.path == tmp_path / "model-store" / "sentiment" and not found.downloaded
    assert not (tmp_path / "cache").exists()
    with pytest.raises(DownloadFailed, match="no folder"):
        model_folder(ModelRequest("pvc://model-store/missing", None, tmp_path, pvc_root=tmp_path), on_stall=print)


def test_an_http_revision_must_be_a_sha256(tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="sha256"):
        model_folder(ModelRequest("https://h.example/m.bin", "v1", tmp_path), on_stall=print)
