"""`predictorapi validate` (the pre-commit hook) on paths that hold no manifest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from support.manifests import manifest
from support.processes import CLI


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "validate", *map(str, paths)], capture_output=True, text=True, timeout=60)


def test_a_folder_without_manifests_fails_with_a_clear_message(tmp_path: Path) -> None:
    """A wrong path (a typo, the wrong checkout) must not pass as 'all valid'."""
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment"}))
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path, empty):
        result = validate(folder)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.strip() == (
            f"{folder}: no PredictorAPI manifest in this folder (no YAML document of kind PredictorAPI)")


def test_a_folder_without_manifests_fails_next_to_a_good_one(tmp_path: Path) -> None:
    good, empty = tmp_path / "good", tmp_path / "empty"
    good.mkdir(), empty.mkdir()
    (good / "predictorapi.yaml").write_text(yaml.safe_dump(manifest()))
    assert validate(good).returncode == 0
    result = validate(good, empty)
    assert result.returncode == 1 and result.stdout.startswith(f"{empty}: no PredictorAPI manifest")


def test_files_named_one_by_one_may_hold_none(tmp_path: Path) -> None:
    """pre-commit hands the hook the files its `files:` pattern matches, split over several runs; a run
    that got only other kinds (e.g. files: ^deploy/.*\\.ya?ml$) passes."""
    other = tmp_path / "deployment.yaml"
    other.write_text(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment"}))
    result = validate(other)
    assert result.returncode == 0 and result.stdout == ""
    assert "no PredictorAPI manifests found" in result.stderr


def test_a_missing_path_fails(tmp_path: Path) -> None:
    result = validate(tmp_path / "nope")
    assert result.returncode == 1 and result.stdout.strip() == f"{tmp_path / 'nope'}: no such file or folder"
