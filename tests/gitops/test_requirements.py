"""Python dependencies of code from git: after `predictorapi fetch` (the `fetch-code` init container) checks the code
out, `predictorapi install-packages` (the `install-packages` init container) pip-installs its requirements — a real
pip, offline (`--no-index --find-links` a folder of wheels built here) or from a PEP 503 index on loopback — into a
cache folder keyed by everything that decides the install; the runtime appends it to its import path after its own
packages; a failing or refused install is one `DependencyInstallFailed` line with no secret in it; `predictorapi
serve` installs the same way. Issue 25 points 1, 3, 4 and 5 each have a test here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from support.artifact_servers import Files, file_server
from support.manifests import manifest
from support.packages import git_commit, git_repo, simple_index, write_sdist, write_wheel
from support.processes import CLI, free_port, running

from predictorapi.contracts.pod import CODE_DIR, GIT_CREDENTIALS_VOLUME, INSTALL_CONTAINER, PACKAGES_DIR
from predictorapi.requirements import COMPLETE_MARKER, install_requirements
from predictorapi.secrets_scrub import scrub
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders import BuildOptions, build_children

TOKEN = "s3cr3t-T0KEN-never-print-me"
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
    """A find-links folder: tinydep 1.0 and 2.0, a `pydantic` 1.0 that the runtime's own pydantic must win over, and
    two distributions with other names shipping a top-level `pydantic` and `json`."""
    folder = tmp_path_factory.mktemp("wheels")
    write_wheel(folder, "tinydep", "1.0", "ANSWER = 42\n")
    write_wheel(folder, "tinydep", "2.0", "ANSWER = 43\n")
    write_wheel(folder, "pydantic", "1.0", "VERSION = 'fake'\n")
    write_wheel(folder, "notpydantic", "1.0", "VERSION = 'shadow'\n", module="pydantic")
    write_wheel(folder, "fastjsonish", "1.0", "loads = None\n", module="json")
    return folder


def pip_env(find_links: Path) -> dict[str, str]:
    """pip offline: the wheels folder only, no user or site configuration."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links), "PIP_CONFIG_FILE": os.devnull}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTORAPI_", "PIP_"))}
    return {**env, **extra}


def repo_with(tmp_path: Path, requirements: str | None, name: str = "repo", **files: str) -> Path:
    tree = {"README.md": "models\n", "models/echo/predictor.py": PREDICTOR,
            **{f"models/echo/{path}": text for path, text in files.items()}}
    if requirements is not None:
        tree["models/echo/requirements.txt"] = requirements
    git_repo(tmp_path / name, tree)
    return tmp_path / name


def run_fetch(tmp_path: Path, repo: Path, dest: str, credentials: Path | None = None) -> subprocess.CompletedProcess:
    """The real `predictorapi fetch` as the `fetch-code` init container runs it: settings from the environment."""
    env = clean_env(PREDICTORAPI_TERMINATION_LOG=str(tmp_path / f"{dest}.fetch-log"),
                    PREDICTORAPI_GIT_REPO=str(repo), PREDICTORAPI_GIT_REVISION="main",
                    PREDICTORAPI_GIT_PATH="models/echo", PREDICTORAPI_GIT_DEST=str(tmp_path / dest))
    if credentials is not None:
        env["PREDICTORAPI_GIT_CREDENTIALS_DIR"] = str(credentials)
    result = subprocess.run([*CLI, "fetch"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def run_install(tmp_path: Path, dest: str, pip: dict[str, str], *args: str, packages: Path | None = None,
                prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The real `predictorapi install-packages` as the `install-packages` init container runs it."""
    env = clean_env(**pip, PREDICTORAPI_TERMINATION_LOG=str(tmp_path / f"{dest}.install-log"),
                    PREDICTORAPI_INSTALL_CODE_DIR=str(tmp_path / dest),
                    PREDICTORAPI_INSTALL_PACKAGES_DIR=str(packages or tmp_path / "packages"),
                    PREDICTORAPI_INSTALL_REQUIREMENTS="requirements.txt",
                    PREDICTORAPI_INSTALL_REQUIREMENTS_OPTIONAL="true")
    return subprocess.run([*prefix, *CLI, "install-packages", *args], env=env, capture_output=True, text=True,
                          timeout=900)


def checkout(tmp_path: Path, repo: Path, dest: str, find_links: Path, **pip: str) -> subprocess.CompletedProcess:
    """`fetch-code` then `install-packages`, as a pod runs them; the install's result."""
    run_fetch(tmp_path, repo, dest)
    return run_install(tmp_path, dest, {**pip_env(find_links), **pip})


def imports_tinydep(link: Path) -> str:
    """What a fresh interpreter with `link` on its import path finds as tinydep.ANSWER."""
    result = subprocess.run([sys.executable, "-c", "import tinydep; print(tinydep.ANSWER)"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(link)})
    return result.stdout.strip() or result.stderr


def installs(packages: Path) -> list[Path]:
    """The complete installs in a packages folder."""
    return sorted(p for p in packages.iterdir() if (p / COMPLETE_MARKER).is_file()) if packages.is_dir() else []


def _failure(result: subprocess.CompletedProcess, tmp_path: Path, dest: str = "code") -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    assert (tmp_path / f"{dest}.install-log").read_text() == line
    assert line.startswith("DependencyInstallFailed: ")
    return line


# --- the install --------------------------------------------------------------------------------------------------


def test_requirements_are_installed_onto_the_import_path_and_cached(tmp_path, wheels) -> None:
    own_wheels = tmp_path / "wheels"
    shutil.copytree(wheels, own_wheels)
    repo = repo_with(tmp_path, "tinydep==1.0\n")
    first = checkout(tmp_path, repo, "code-1", own_wheels)
    assert first.returncode == 0, first.stderr
    assert "installed in" in first.stdout and "already" not in first.stdout
    link = tmp_path / "code-1" / ".predictorapi-packages"
    (install,) = installs(tmp_path / "packages")
    assert link.resolve().is_relative_to(install.resolve())
    assert imports_tinydep(link) == "42"
    assert len((tmp_path / "code-1.fetch-log").read_text().strip()) == 40, "fetch-code's message is still the SHA"

    # A second replica (same packages folder, e.g. this API's folder of the model cache claim): no pip run, even
    # with the wheels gone from the index.
    shutil.rmtree(own_wheels)
    own_wheels.mkdir()
    second = checkout(tmp_path, repo, "code-2", own_wheels)
    assert second.returncode == 0, second.stderr
    assert "already installed" in second.stdout
    assert imports_tinydep(tmp_path / "code-2" / ".predictorapi-packages") == "42"
    assert [p.name for p in (tmp_path / "packages").iterdir()] == [install.name]


def test_without_a_requirements_file_nothing_is_installed(tmp_path, wheels) -> None:
    result = checkout(tmp_path, repo_with(tmp_path, None), "code", wheels)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "code" / ".predictorapi-packages").exists()
    assert not (tmp_path / "packages").exists()


def test_a_failing_install_is_one_dependency_install_failed_line_with_pips_last_lines(tmp_path, wheels) -> None:
    result = checkout(tmp_path, repo_with(tmp_path, "tinydep==3.0\n"), "code", wheels)
    line = _failure(result, tmp_path)
    assert "No matching distribution found for tinydep==3.0" in line
    assert not installs(tmp_path / "packages"), "a failed install is never reused"


def test_requirements_cannot_replace_the_runtimes_own_packages(tmp_path, wheels) -> None:
    result = checkout(tmp_path, repo_with(tmp_path, "pydantic==1.0\n"), "code", wheels)
    assert "pydantic" in _failure(result, tmp_path)


def test_a_named_requirements_file_must_exist(tmp_path, wheels) -> None:
    run_fetch(tmp_path, repo_with(tmp_path, None), "code")
    result = subprocess.run([*CLI, "install-packages", "--code-dir", str(tmp_path / "code"), "--requirements",
                             "deps/prod.txt", "--packages-dir", str(tmp_path / "packages")],
                            env=clean_env(PREDICTORAPI_TERMINATION_LOG=str(tmp_path / "code.install-log")),
                            capture_output=True, text=True, timeout=120)
    assert "deps/prod.txt not found" in _failure(result, tmp_path)


def test_replicas_installing_at_once_end_with_one_install(tmp_path, wheels, monkeypatch) -> None:
    for key, value in pip_env(wheels).items():
        monkeypatch.setenv(key, value)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "requirements.txt").write_text("tinydep==1.0\n")
    results: list[tuple[Path, bool]] = []
    start = threading.Barrier(2)

    def install() -> None:
        start.wait()
        results.append(install_requirements(tmp_path / "code" / "requirements.txt", tmp_path / "code",
                                            tmp_path / "packages"))

    threads = [threading.Thread(target=install) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert len(results) == 2 and results[0][0] == results[1][0]
    assert len(list((tmp_path / "packages").iterdir())) == 1, "no scratch folder is left behind"
    assert imports_tinydep(results[0][0]) == "42"


def test_serve_installs_the_requirements_of_git_code_into_a_local_cache(tmp_path, wheels) -> None:
    (tmp_path / "predictor.py").write_text(PREDICTOR)
    (tmp_path / "requirements.txt").write_text("-r base.txt\n")
    (tmp_path / "base.txt").write_text("tinydep==1.0\n")
    document = manifest(predictor={"path": "predictor.py", "source": {"git": {
        "repo": "https://git.example/models.git", "revision": "main"}}})
    PredictorAPI.model_validate(document)
    (tmp_path / "predictorapi.yaml").write_text(yaml.safe_dump(document))
    port = free_port()
    env = {**pip_env(wheels), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with running([*CLI, "serve", str(tmp_path), "--port", str(port)], port, env=env, timeout=600):
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"answer": 42}
    assert len(installs(tmp_path / "cache" / "predictorapi" / "python-packages")) == 1


# --- issue 25, point 1: the cache key covers everything that decides the install -----------------------------------


def test_nested_requirements_files_are_part_of_the_cache_key(tmp_path, wheels) -> None:
    first = repo_with(tmp_path, "-r base.txt\n", name="api-one", **{"base.txt": "tinydep==1.0\n"})
    result = checkout(tmp_path, first, "one", wheels)
    assert result.returncode == 0, result.stderr
    assert imports_tinydep(tmp_path / "one" / ".predictorapi-packages") == "42"

    # Another API on the same claim, the same requirements.txt, another base.txt: its own install.
    second = repo_with(tmp_path, "-r base.txt\n", name="api-two", **{"base.txt": "tinydep==2.0\n"})
    result = checkout(tmp_path, second, "two", wheels)
    print("second API:", result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0 and "already installed" not in result.stdout, result.stdout + result.stderr
    assert imports_tinydep(tmp_path / "two" / ".predictorapi-packages") == "43"

    # The first API edits only base.txt: its next pod gets the new package.
    git_commit(first, {"models/echo/base.txt": "tinydep==2.0\n"})
    result = checkout(tmp_path, first, "one-edited", wheels)
    assert result.returncode == 0, result.stderr
    assert imports_tinydep(tmp_path / "one-edited" / ".predictorapi-packages") == "43"
    assert len(installs(tmp_path / "packages")) == 2


def test_the_pip_environment_is_part_of_the_cache_key(tmp_path) -> None:
    index_a, index_b = tmp_path / "index-a", tmp_path / "index-b"
    write_wheel(index_a, "tinydep", "1.0", "ANSWER = 'from index a'\n")
    write_wheel(index_b, "tinydep", "1.0", "ANSWER = 'from index b'\n")
    repo = repo_with(tmp_path, "tinydep==1.0\n")
    assert checkout(tmp_path, repo, "a", index_a).returncode == 0
    result = checkout(tmp_path, repo, "b", index_b)
    assert result.returncode == 0 and "already installed" not in result.stdout, result.stdout + result.stderr
    assert imports_tinydep(tmp_path / "b" / ".predictorapi-packages") == "from index b"


@pytest.mark.parametrize(("requirements", "refused"), [
    ("-r ../outside.txt\n", "--requirement ../outside.txt is outside the checked-out code"),
    ("tinydep==1.0\n-c /etc/hostname\n", "--constraint /etc/hostname is outside the checked-out code"),
    ("--requirement=https://example.com/reqs.txt\n", "requirements from a URL are not supported"),
    ("../outside-pkg\n", "../outside-pkg is outside the checked-out code"),
    ("-e .\n", "editable installs (-e .) are not supported"),
    ("--index-url http://127.0.0.1:9/simple\ntinydep==1.0\n", "--index-url http://127.0.0.1:9/simple is not allowed"),
    ("tinydep==1.0 \\\n  --extra-index-url=http://127.0.0.1:9/simple\n", "--extra-index-url http://127.0.0.1:9/simple"),
    ("-fhttp://127.0.0.1:9/wheels\n", "--find-links http://127.0.0.1:9/wheels is not allowed"),
    ("--trusted-host 127.0.0.1\n", "--trusted-host 127.0.0.1 is not allowed"),
])
def test_requirements_that_cannot_be_keyed_are_refused_before_pip_runs(tmp_path, wheels, requirements,
                                                                       refused) -> None:
    (tmp_path / "outside.txt").write_text("tinydep==1.0\n")
    (tmp_path / "outside-pkg").mkdir()
    run_fetch(tmp_path, repo_with(tmp_path, requirements), "code")
    result = run_install(tmp_path, "code", pip_env(wheels))
    line = _failure(result, tmp_path)
    print(line)
    assert line.startswith("DependencyInstallFailed: requirements.txt line ") and refused in line
    assert "pip install" not in result.stdout and not (tmp_path / "code" / ".predictorapi-packages").exists()


def test_an_index_the_spec_allows_by_name_may_be_named_in_requirements(tmp_path, wheels) -> None:
    with file_server(Files(simple_index(wheels))) as url:
        run_fetch(tmp_path, repo_with(tmp_path, f"--index-url {url}/simple\ntinydep==2.0\n"), "code")
        result = run_install(tmp_path, "code", {"PIP_CONFIG_FILE": os.devnull},
                             "--allowed-index-url", f"{url}/simple/")
    assert result.returncode == 0, result.stderr
    assert imports_tinydep(tmp_path / "code" / ".predictorapi-packages") == "43"


# --- issue 25, point 3: build code runs without the token, and writes only its own API's folder ----------------------


def _install_container(claim: str) -> dict:
    """The `install-packages` container the operator renders for an API with a git Secret and a shared cache."""
    document = manifest(predictor={"path": "predictor.py", "source": {"git": {
        "repo": "https://git.example/m.git", "revision": "main", "secretRef": {"name": "git-token"}}}},
        model={"uri": "s3://models/m/", "cache": {"claimName": claim}})
    document["metadata"]["namespace"] = "team-a"
    children = build_children(PredictorAPI.model_validate(document), BuildOptions())
    pod = next(c for c in children if c["kind"] == "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["initContainers"] if c["name"] == INSTALL_CONTAINER)


SANDBOX = """\
set -e
mount -t tmpfs tmpfs "$HIDE"
mount --bind "$OWN" "$STASH"
mount --bind "$CLAIM" "$CLAIM"
mount -o remount,bind,ro "$CLAIM"
mount --bind "$STASH" "$OWN"
exec "$@"
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (user and mount namespaces)")
def test_build_code_can_neither_read_the_git_token_nor_write_outside_its_apis_folder(tmp_path) -> None:
    """A real sdist whose setup.py tries to read the git token and to overwrite another API's packages and a model
    on the shared claim. The install runs as the rendered `install-packages` container does: its mounts only (the
    git Secret absent, the claim visible only through this API's subPath, read-write), emulated with a user and
    mount namespace (`unshare`), since no kubelet runs here."""
    claim, creds, report = tmp_path / "claim", tmp_path / "creds", tmp_path / "report.json"
    creds.mkdir()
    (creds / "token").write_text(TOKEN)
    victim = claim / "python-packages" / "team-b" / "other" / "victim.txt"
    weights = claim / "models" / "weights.bin"
    for file in (victim, weights):
        file.parent.mkdir(parents=True)
        file.write_text("untouched")
    setup = f"""
import json, os, pathlib
seen = {{}}
try:
    seen["token"] = pathlib.Path({str(creds / 'token')!r}).read_text()
except OSError as exc:
    seen["token"] = type(exc).__name__
for name, path in (("victim", {str(victim)!r}), ("weights", {str(weights)!r})):
    try:
        pathlib.Path(path).write_text("pwned")
        seen[name] = "written"
    except OSError as exc:
        seen[name] = type(exc).__name__
seen["secret_env"] = sorted(k for k in os.environ if "CREDENTIALS" in k or "TOKEN" in k)
pathlib.Path(os.environ["EVIL_REPORT"]).write_text(json.dumps(seen))
"""
    write_sdist(tmp_path / "wheels", "evilbuild", "1.0", setup)

    container = _install_container("shared-cache")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert GIT_CREDENTIALS_VOLUME not in {m["name"] for m in mounts.values()} and "envFrom" not in container
    own = claim / mounts[PACKAGES_DIR]["subPath"]
    own.mkdir(parents=True)
    (tmp_path / "stash").mkdir()
    assert set(mounts) == {CODE_DIR, "/tmp", PACKAGES_DIR} and not mounts[PACKAGES_DIR].get("readOnly")

    run_fetch(tmp_path, repo_with(tmp_path, "evilbuild==1.0\n"), "code", credentials=creds)
    pip = {**pip_env(tmp_path / "wheels"), "PIP_NO_BUILD_ISOLATION": "0", "EVIL_REPORT": str(report),
           "HIDE": str(creds), "OWN": str(own), "STASH": str(tmp_path / "stash"), "CLAIM": str(claim)}
    result = run_install(tmp_path, "code", pip, packages=own,
                         prefix=("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", SANDBOX, "sandbox"))
    seen = json.loads(report.read_text())
    print("setup.py saw:", seen)
    assert result.returncode == 0, result.stderr
    assert seen == {"token": "FileNotFoundError", "victim": "OSError", "weights": "OSError", "secret_env": []}
    assert victim.read_text() == weights.read_text() == "untouched"
    assert len(installs(own)) == 1, "the install itself lands in the API's own folder"
    assert TOKEN not in result.stdout + result.stderr


# --- issue 25, point 4: no secret in any output ---------------------------------------------------------------------


@pytest.mark.parametrize("line", ["-r {token}", "-c {token}", "{token}"])
def test_the_git_token_never_reaches_the_install_output(tmp_path, wheels, line) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "token").write_text(TOKEN + "\n")
    repo = repo_with(tmp_path, line.format(token=creds / "token") + "\n")
    fetched = run_fetch(tmp_path, repo, "code", credentials=creds)
    result = run_install(tmp_path, "code", pip_env(wheels))
    failure = _failure(result, tmp_path)
    print(failure)
    assert "outside the checked-out code" in failure
    everything = [fetched.stdout, fetched.stderr, result.stdout, result.stderr,
                  (tmp_path / "code.fetch-log").read_text(), (tmp_path / "code.install-log").read_text()]
    assert not any(TOKEN in text for text in everything)


def test_one_scrubber_hides_secrets_their_url_forms_url_credentials_and_authorization_values() -> None:
    password = "p@ss/w+rd=="
    text = (f"token {TOKEN} in a URL https://pypi.example/p%40ss%2Fw%2Brd%3D%3D/simple at "
            f"https://user:{TOKEN}@host/x Authorization: Bearer abc.def, proxy-authorization=xyz")
    scrubbed = scrub(text, [TOKEN + "\n", password, "x"])
    print(scrubbed)
    assert TOKEN not in scrubbed and "p%40ss" not in scrubbed and "abc.def" not in scrubbed and "xyz" not in scrubbed
    assert scrubbed.startswith("token *** in a URL ") and "https://***@host/x" in scrubbed
    assert "Authorization: Bearer ***" in scrubbed and "proxy-authorization=***" in scrubbed
    assert "host/x" in scrubbed, "a one-letter 'secret' is not masked everywhere"


def test_a_secret_pip_setting_is_scrubbed_from_pips_output(tmp_path, wheels) -> None:
    """An index whose URL carries a token in its path (as some registries do), given as `PIP_INDEX_URL` from a
    Secret: the operator names it in `PREDICTORAPI_INSTALL_SECRET_ENV`, and neither the log nor the termination
    message shows it, whether pip succeeds or fails."""
    with file_server(Files(simple_index(wheels, prefix=f"/{TOKEN}"))) as url:
        pip = {"PIP_INDEX_URL": f"{url}/{TOKEN}/simple", "PIP_CONFIG_FILE": os.devnull,
               "PREDICTORAPI_INSTALL_SECRET_ENV": '["PIP_INDEX_URL"]'}
        run_fetch(tmp_path, repo_with(tmp_path, "tinydep==1.0\n"), "ok")
        installed = run_install(tmp_path, "ok", pip)
        run_fetch(tmp_path, repo_with(tmp_path, "tinydep==9.9\n", name="missing"), "code")
        failed = run_install(tmp_path, "code", pip)
    assert installed.returncode == 0, installed.stderr
    assert "Looking in indexes: ***" in installed.stdout, installed.stdout
    line = _failure(failed, tmp_path)
    print(line)
    assert "tinydep==9.9" in line
    for text in (installed.stdout, installed.stderr, failed.stdout, failed.stderr, line):
        assert TOKEN not in text


# --- issue 25, point 5: requirements never shadow the runtime or the standard library ----------------------------


@pytest.mark.parametrize(("requirement", "named"), [
    ("notpydantic==1.0", "notpydantic 1.0 installs the module pydantic, which pydantic "),
    ("fastjsonish==1.0", "fastjsonish 1.0 installs the module json, which the standard library provides"),
])
def test_a_package_shipping_a_module_the_runtime_provides_is_refused(tmp_path, wheels, requirement, named) -> None:
    result = checkout(tmp_path, repo_with(tmp_path, requirement + "\n"), "code", wheels)
    line = _failure(result, tmp_path)
    print(line)
    assert named in line
    assert not installs(tmp_path / "packages") and not (tmp_path / "code" / ".predictorapi-packages").exists()


def test_installed_packages_come_after_the_runtimes_own_modules(tmp_path) -> None:
    """Even a shadowing folder that got into the packages folder loses: the runtime appends it to its path."""
    site = tmp_path / "site"
    (site / "pydantic").mkdir(parents=True)
    (site / "pydantic" / "__init__.py").write_text("raise ImportError('the packages folder shadowed pydantic')\n")
    (site / "tinydep").mkdir()
    (site / "tinydep" / "__init__.py").write_text("ANSWER = 42\n")
    (tmp_path / "predictor.py").write_text(
        "import json\nimport pydantic\nimport tinydep\n\n\nclass PythonPredictor:\n"
        "    def predict(self, payload):\n"
        "        return {'answer': tinydep.ANSWER, 'pydantic': pydantic.VERSION, 'json': json.__file__}\n")
    port = free_port()
    env = clean_env(PREDICTORAPI_PREDICTOR_PATH=str(tmp_path / "predictor.py"), PREDICTORAPI_PORT=str(port),
                    PREDICTORAPI_HOST="127.0.0.1", PREDICTORAPI_PACKAGES_PATH=str(site))
    with running([sys.executable, "-m", "predictorapi"], port, env=env, timeout=300):
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={}, timeout=30).json()
    import pydantic

    assert answer == {"answer": 42, "pydantic": pydantic.VERSION, "json": json.__file__}
