"""`predictorapi init NAME`: the scaffold is a valid PredictorAPI with a working predictor."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from support.processes import CLI, free_port, running

from predictorapi.cli import main
from predictorapi.spec import PredictorAPI


def load_predictor(path: Path) -> type:
    spec = importlib.util.spec_from_file_location(f"scaffold_{path.parent.name.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PythonPredictor


def test_scaffold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "sentiment-v2", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "sentiment-v2"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".dockerignore", "Dockerfile", "README.md", "predictor.py", "predictorapi.yaml", "requirements.txt"]
    assert str(folder) in capsys.readouterr().out

    api = PredictorAPI.model_validate(yaml.safe_load((folder / "predictorapi.yaml").read_text()))
    assert api.metadata.name == "sentiment-v2"
    assert api.spec.predictor.image == "registry.example.com/sentiment-v2:0.1.0"
    assert api.spec.predictor.path == "predictor.py" and (folder / api.spec.predictor.path).is_file()
    assert api.spec.predictor.source is None

    predictor = load_predictor(folder / "predictor.py")(api.spec.predictor.config)
    assert predictor.predict({"name": "Ada"}) == {"message": "Hello, Ada!"}
    assert predictor.predict("Bob") == {"message": "Hello, Bob!"}

    dockerfile = (folder / "Dockerfile").read_text().splitlines()
    assert "FROM ghcr.io/predictorapi/runtime:0.1.0" in dockerfile
    assert "{{" not in "".join(p.read_text() for p in folder.iterdir())


def test_generated_code_is_lint_clean(tmp_path: Path) -> None:
    assert main(["init", "lint-me", "--dir", str(tmp_path)]) == 0
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed")
    result = subprocess.run([str(ruff), "check", "--no-cache", "--isolated", str(tmp_path / "lint-me")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", ["Hello", "1api", "my_api", "api-", "a" * 64, "-x", "x.y", ""])
def test_refuses_invalid_names(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--dir", str(tmp_path), "--", name]) == 2
    assert "DNS-1035" in capsys.readouterr().err or len(name) > 63
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_existing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "predictor.py").write_text("mine")
    assert main(["init", "taken", "--dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "taken" / "predictor.py").read_text() == "mine"


def test_missing_parent_folder(tmp_path: Path) -> None:
    assert main(["init", "x", "--dir", str(tmp_path / "nope")]) == 1


def test_scaffold_passes_validate_and_serve_as_generated(tmp_path: Path) -> None:
    assert main(["init", "greeter", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "greeter"
    validated = subprocess.run([*CLI, "validate", str(folder)], capture_output=True, text=True, timeout=60)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    port = free_port()
    with running([*CLI, "serve", str(folder), "--port", str(port)], port, timeout=60):
        response = httpx.post(f"http://127.0.0.1:{port}/", json={"name": "Grace"})
        assert response.status_code == 200 and response.json() == {"message": "Hello, Grace!"}
