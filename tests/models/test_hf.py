"""`hf://ORG/NAME` with `huggingface_hub` against a loopback Hub (`HF_ENDPOINT`) serving a tiny repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.artifact_servers import HubRepo, hub_server

from .conftest import fetch_model, fetched

COMMIT = "8c1d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d"
OTHER = "1" * 40
FILES = {"config.json": b'{"model_type": "tiny"}', "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n"}
URI = "hf://tiny-org/tiny-model"


@pytest.fixture
def hub() -> HubRepo:
    return HubRepo("tiny-org/tiny-model", COMMIT, FILES, tags=("v1", OTHER))  # OTHER: resolves to COMMIT (a bad mirror)


@pytest.mark.parametrize("revision", [COMMIT, "v1"])
def test_the_repository_is_downloaded_at_its_commit(hub: HubRepo, revision: str, tmp_path: Path) -> None:
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", URI, "--revision", revision, "--cache-dir", str(tmp_path),
                             "--allow-insecure-http", env={"HF_ENDPOINT": endpoint, "HF_TOKEN": "hf_test"},
                             termination_log=log)
    assert result.returncode == 0, result.stderr
    folder = Path(fetched(log).path)
    downloaded = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert downloaded == {*FILES, ".predictorapi-model.json"}
    assert (folder / "tokenizer" / "vocab.txt").read_bytes() == FILES["tokenizer/vocab.txt"]
    assert dict(hub.gets) == dict.fromkeys(FILES, 1)
    assert "Fetching" not in result.stderr  # no progress bars: the progress is logged


def test_a_branch_or_tag_is_cached_and_reported_as_its_commit(hub: HubRepo, tmp_path: Path) -> None:
    """Issue 25, point 7: the key and the recorded revision are the commit a branch or tag resolved to."""
    runs = {}
    with hub_server(hub) as endpoint:
        for revision in ("main", "v1", COMMIT):
            log = tmp_path / f"termination-log-{revision}"
            runs[revision] = (fetch_model("--uri", URI, "--revision", revision, "--cache-dir", str(tmp_path / "cache"),
                                          env={"HF_ENDPOINT": endpoint}, termination_log=log), fetched(log))
    for revision, (result, found) in runs.items():
        print(f"{revision}: {found} | {result.stdout.splitlines()[-1]}")
    assert {found.revision for _result, found in runs.values()} == {COMMIT}
    assert len({found.path for _result, found in runs.values()}) == 1
    assert f"revision main is commit {COMMIT}" in runs["main"][0].stdout
    assert runs["main"][0].stdout.splitlines()[-1].startswith("downloaded: ")
    assert runs["v1"][0].stdout.splitlines()[-1].endswith(f"(revision {COMMIT})")
    assert dict(hub.gets) == dict.fromkeys(FILES, 1)


def test_a_listed_name_leaving_the_download_folder_is_refused(tmp_path: Path) -> None:
    """Issue 25, point 2: a Hub listing `../../hf-escaped.txt` writes nothing outside the cache."""
    hub = HubRepo("tiny-org/tiny-model", COMMIT, {**FILES, "../../hf-escaped.txt": b"another API's weights"})
    cache = tmp_path / "claim" / "models"
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", URI, "--cache-dir", str(cache), env={"HF_ENDPOINT": endpoint},
                             termination_log=log)
    print(log.read_text())
    assert result.returncode == 1
    assert log.read_text() == (f"ModelDownloadFailed: {URI}: refusing '../../hf-escaped.txt': it leads outside the "
                               "download folder")
    assert not list(tmp_path.rglob("hf-escaped.txt")) and not hub.gets
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_a_token_is_not_sent_to_a_plain_http_hub_without_the_opt_in(hub: HubRepo, tmp_path: Path) -> None:
    """Issue 25, point 8 (hf://): `HF_TOKEN` to an http:// `HF_ENDPOINT` is refused before any request."""
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", URI, "--cache-dir", str(tmp_path), env={"HF_ENDPOINT": endpoint,
                                                                               "HF_TOKEN": "hf_s3cret"},
                             termination_log=log)
    assert result.returncode == 1
    assert log.read_text() == (f"ModelDownloadFailed: {URI}: refusing to send HF_TOKEN over plain http to {endpoint}: "
                               "use https://, or set spec.model.allowInsecureHttp: true "
                               "(PREDICTORAPI_MODEL_ALLOW_INSECURE_HTTP=true, --allow-insecure-http) on a network "
                               "you trust")
    assert "hf_s3cret" not in result.stdout + result.stderr and not hub.gets


def test_a_commit_the_hub_resolves_differently_is_a_revision_mismatch(hub: HubRepo, tmp_path: Path) -> None:
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", URI, "--revision", OTHER, "--cache-dir", str(tmp_path),
                             env={"HF_ENDPOINT": endpoint}, termination_log=log)
    assert result.returncode == 1
    assert log.read_text() == (f"ModelDownloadFailed: {URI}: revision mismatch: asked for commit "
                               f"{OTHER}, the Hub serves {COMMIT}")
    assert not hub.gets


def test_an_unknown_revision_or_repository_fails(hub: HubRepo, tmp_path: Path) -> None:
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        unknown = fetch_model("--uri", URI, "--revision", "v2", "--cache-dir", str(tmp_path),
                              env={"HF_ENDPOINT": endpoint}, termination_log=log)
        assert unknown.returncode == 1
        assert log.read_text() == f"ModelDownloadFailed: {URI}: revision v2 not found"
        missing = fetch_model("--uri", "hf://tiny-org/other", "--cache-dir", str(tmp_path),
                              env={"HF_ENDPOINT": endpoint}, termination_log=log)
    assert missing.returncode == 1
    assert log.read_text().startswith("ModelDownloadFailed: hf://tiny-org/other: repository not found")
