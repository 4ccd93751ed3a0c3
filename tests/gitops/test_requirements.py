"""Python dependencies of code from git: `predictorapi fetch` pip-installs the checked-out requirements (a real
pip, `--no-index --find-links` a wheel built here), cached by the file's sha256, onto the runtime's import
path; a failing install is one `DependencyInstallFailed` line; `predictorapi serve` installs the same way."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from support.manifests import manifest
from support.packages import git_repo, write_wheel
from support.processes import CLI, free_port, running

from predictorapi.requirements import COMPLETE_MARKER, install_requirements, python_tag
from predictorapi.spec import PredictorAPI

PREDICTOR = """\
import tinydep


class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload):
        return {"answer": tinydep.ANSWER}
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links folder: tinydep 1.0, and a `pydantic` 1.0 that the runtime's own pydantic must win over."""
    folder = tmp_path_factory.mktemp("wheels")
    write_wheel(folder, "tinydep", "1.0", "ANSWER = 42\n")
    write_wheel(folder, "pydantic", "1.0", "VERSION = 'fake'\n")
    return folder


def pip_env(find_links: Path) -> dict[str, str]:
    """pip offline: the wheels folder only, no user or site configuration."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links), "PIP_CONFIG_FILE": os.devnull}


def repo_with(tmp_path: Path, requirements: str | None, name: str = "repo") -> Path:
    files = {"README.md": "models\n", "models/echo/predictor.py": PREDICTOR}
    if requirements is not None:
        files["models/echo/requirements.txt"] = requirements
    git_repo(tmp_path / name, files)
    return tmp_path / name


def run_fetch(tmp_path: Path, repo: Path, dest: str, *args: str, find_links: Path) -> subprocess.CompletedProcess:
    """The real `predictorapi fetch` as the init container runs it: settings from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTORAPI_", "PIP_"))}
    env.update(pip_env(find_links), PREDICTORAPI_TERMINATION_LOG=str(tmp_path / f"{dest}.termination-log"),
               PREDICTORAPI_GIT_REPO=str(repo), PREDICTORAPI_GIT_REVISION="main", PREDICTORAPI_GIT_PATH="models/echo",
               PREDICTORAPI_GIT_DEST=str(tmp_path / dest), PREDICTORAPI_GIT_PACKAGES_DIR=str(tmp_path / "packages"),
               PREDICTORAPI_GIT_REQUIREMENTS="requirements.txt", PREDICTORAPI_GIT_REQUIREMENTS_OPTIONAL="true")
    return subprocess.run([*CLI, "fetch", *args], env=env, capture_output=True, text=True, timeout=600)


def imports_tinydep(link: Path) -> str:
    """What a fresh interpreter with `link` as PYTHONPATH (the runtime container) finds as tinydep.ANSWER."""
    result = subprocess.run([sys.executable, "-c", "import tinydep; print(tinydep.ANSWER)"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(link)})
    return result.stdout.strip() or result.stderr


def test_requirements_are_installed_onto_the_import_path_and_cached_by_hash(tmp_path, wheels) -> None:
    repo = repo_with(tmp_path, "tinydep==1.0\n")
    first = run_fetch(tmp_path, repo, "code-1", find_links=wheels)
    assert first.returncode == 0, first.stderr
    assert "installed in" in first.stdout and "already" not in first.stdout
    link = tmp_path / "code-1" / ".predictorapi-packages"
    digest = hashlib.sha256(b"tinydep==1.0\n").hexdigest()
    install = tmp_path / "packages" / digest / python_tag()
    assert link.resolve().is_relative_to(install.resolve()) and (install / COMPLETE_MARKER).is_file()
    assert imports_tinydep(link) == "42"
    assert len((tmp_path / "code-1.termination-log").read_text().strip()) == 40, "the message is still the SHA"

    # A second replica (same packages volume, e.g. the model cache claim): no pip run, even with no index at all.
    second = run_fetch(tmp_path, repo, "code-2", find_links=tmp_path / "no-wheels")
    assert second.returncode == 0, second.stderr
    assert "already installed" in second.stdout
    assert imports_tinydep(tmp_path / "code-2" / ".predictorapi-packages") == "42"
    assert [p.name for p in (tmp_path / "packages").iterdir()] == [digest]


def test_without_a_requirements_file_nothing_is_installed(tmp_path, wheels) -> None:
    result = run_fetch(tmp_path, repo_with(tmp_path, None), "code", find_links=wheels)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "code" / ".predictorapi-packages").exists()
    assert not (tmp_path / "packages").exists()


def _failure(result: subprocess.CompletedProcess, tmp_path: Path, dest: str = "code") -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert (tmp_path / f"{dest}.termination-log").read_text() == line
    assert line.startswith("DependencyInstallFailed: ")
    return line


def test_a_failing_install_is_one_dependency_install_failed_line_with_pips_last_lines(tmp_path, wheels) -> None:
    result = run_fetch(tmp_path, repo_with(tmp_path, "tinydep==2.0\n"), "code", find_links=wheels)
    line = _failure(result, tmp_path)
    assert "No matching distribution found for tinydep==2.0" in line
    leftovers = list((tmp_path / "packages").rglob("*"))
    assert not any(p.name == COMPLETE_MARKER for p in leftovers), "a failed install is never reused"


def test_requirements_cannot_replace_the_runtimes_own_packages(tmp_path, wheels) -> None:
    result = run_fetch(tmp_path, repo_with(tmp_path, "pydantic==1.0\n"), "code", find_links=wheels)
    line = _failure(result, tmp_path)
    assert "pydantic" in line


def test_a_named_requirements_file_must_exist(tmp_path) -> None:
    repo = repo_with(tmp_path, None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTORAPI_", "PIP_"))}
    env.update(PREDICTORAPI_TERMINATION_LOG=str(tmp_path / "code.termination-log"))
    result = subprocess.run([*CLI, "fetch", "--repo", str(repo), "--revision", "main", "--path", "models/echo",
                             "--dest", str(tmp_path / "code"), "--requirements", "deps/prod.txt",
                             "--packages-dir", str(tmp_path / "packages")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert "deps/prod.txt not found" in _failure(result, tmp_path)


def test_replicas_installing_at_once_end_with_one_install(tmp_path, wheels, monkeypatch) -> None:
    for key, value in pip_env(wheels).items():
        monkeypatch.setenv(key, value)
    (tmp_path / "requirements.txt").write_text("tinydep==1.0\n")
    results: list[tuple[Path, bool]] = []
    start = threading.Barrier(2)

    def install() -> None:
        start.wait()
        results.append(install_requirements(tmp_path / "requirements.txt", tmp_path / "packages"))

    threads = [threading.Thread(target=install) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert len(results) == 2 and results[0][0] == results[1][0]
    (digest,) = (tmp_path / "packages").iterdir()
    assert [p.name for p in digest.iterdir()] == [python_tag()], "no scratch folder is left behind"
    assert imports_tinydep(results[0][0]) == "42"


def test_serve_installs_the_requirements_of_git_code_into_a_local_cache(tmp_path, wheels) -> None:
    (tmp_path / "predictor.py").write_text(PREDICTOR)
    (tmp_path / "requirements.txt").write_text("tinydep==1.0\n")
    document = manifest(predictor={"path": "predictor.py", "source": {"git": {
        "repo": "https://git.example/models.git", "revision": "main"}}})
    PredictorAPI.model_validate(document)
    (tmp_path / "predictorapi.yaml").write_text(yaml.safe_dump(document))
    port = free_port()
    env = {**pip_env(wheels), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with running([*CLI, "serve", str(tmp_path), "--port", str(port)], port, env=env, timeout=600):
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"answer": 42}
    digest = hashlib.sha256(b"tinydep==1.0\n").hexdigest()
    assert (tmp_path / "cache" / "predictorapi" / "python-packages" / digest / python_tag() / COMPLETE_MARKER).is_file()
