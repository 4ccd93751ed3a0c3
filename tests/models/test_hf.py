"""`hf://ORG/NAME` with `huggingface_hub` against a loopback Hub (`HF_ENDPOINT`) serving a tiny repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.artifact_servers import HubRepo, hub_server

from .conftest import fetch_model

COMMIT = "8c1d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d"
OTHER = "1" * 40
FILES = {"config.json": b'{"model_type": "tiny"}', "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n"}


@pytest.fixture
def hub() -> HubRepo:
    return HubRepo("tiny-org/tiny-model", COMMIT, FILES, tags=("v1", OTHER))  # OTHER: resolves to COMMIT (a bad mirror)


@pytest.mark.parametrize("revision", [COMMIT, "v1"])
def test_the_repository_is_downloaded_at_its_commit(hub: HubRepo, revision: str, tmp_path: Path) -> None:
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", "hf://tiny-org/tiny-model", "--revision", revision, "--cache-dir", str(tmp_path),
                             env={"HF_ENDPOINT": endpoint, "HF_TOKEN": "hf_test"}, termination_log=log)
    assert result.returncode == 0, result.stderr
    folder = Path(log.read_text())
    downloaded = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert downloaded == {*FILES, ".predictorapi-model.json"}
    assert (folder / "tokenizer" / "vocab.txt").read_bytes() == FILES["tokenizer/vocab.txt"]
    assert dict(hub.gets) == dict.fromkeys(FILES, 1)
    assert "Fetching" not in result.stderr  # no progress bars: the progress is logged


def test_a_commit_the_hub_resolves_differently_is_a_revision_mismatch(hub: HubRepo, tmp_path: Path) -> None:
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", "hf://tiny-org/tiny-model", "--revision", OTHER, "--cache-dir", str(tmp_path),
                             env={"HF_ENDPOINT": endpoint}, termination_log=log)
    assert result.returncode == 1
    assert log.read_text() == (f"ModelDownloadFailed: hf://tiny-org/tiny-model: revision mismatch: asked for commit "
                               f"{OTHER}, the Hub serves {COMMIT}")
    assert not hub.gets


def test_an_unknown_revision_or_repository_fails(hub: HubRepo, tmp_path: Path) -> None:
    with hub_server(hub) as endpoint:
        log = tmp_path / "termination-log"
        unknown = fetch_model("--uri", "hf://tiny-org/tiny-model", "--revision", "v2", "--cache-dir", str(tmp_path),
                              env={"HF_ENDPOINT": endpoint}, termination_log=log)
        assert unknown.returncode == 1
        assert log.read_text() == "ModelDownloadFailed: hf://tiny-org/tiny-model: revision v2 not found"
        missing = fetch_model("--uri", "hf://tiny-org/other", "--cache-dir", str(tmp_path),
                              env={"HF_ENDPOINT": endpoint}, termination_log=log)
    assert missing.returncode == 1
    assert log.read_text().startswith("ModelDownloadFailed: hf://tiny-org/other: repository not found")
