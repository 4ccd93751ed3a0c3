"""Install a predictor's pip requirements into a cache folder keyed by the requirements file's sha256.

`install_requirements(file, packages_dir)` installs `file` with the running interpreter's pip
(`pip install --prefix`) into `PACKAGES_DIR/<sha256>/<pyXY>/`, and returns that install's
site-packages folder, to be put on the import path. A folder already complete is reused without running
pip (a cache hit: the `fetch-code` init container of a second replica on the model cache PVC, a second
`predictorapi serve`). Two installs of the same file at once (replicas starting together) each install into
a scratch folder and rename it into place; the first rename wins, the other is discarded.

Requirements may add packages but never change the runtime's own: every distribution of the running
environment is passed to pip as a constraint (`name==version`), so a requirement that needs another version
of, say, pydantic fails the install with pip's explanation instead of breaking the server. Packages the
environment already satisfies are not installed again.

A failure is a :class:`~predictorapi.gitfetch.FetchError` with reason `DependencyInstallFailed` and pip's
last lines as detail: the `fetch-code` termination message, and so the `Degraded` reason.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from predictorapi.contracts.pod import PACKAGES_CACHE_FOLDER
from predictorapi.contracts.termination import DEPENDENCY_INSTALL_FAILED
from predictorapi.gitfetch import FetchError, one_line
from predictorapi.runtime_env import requirements_file
from predictorapi.spec import PredictorAPISpec

COMPLETE_MARKER = ".predictorapi-complete"
"""Written into an install folder once pip succeeded; a folder without it is not used."""
PIP_TIMEOUT_SECONDS = 1800.0
LAST_LINES = 6
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$")


def file_digest(file: Path) -> str:
    """The sha256 of the requirements file: the cache key of its install."""
    return hashlib.sha256(file.read_bytes()).hexdigest()


def python_tag() -> str:
    """`py311`: installs are kept apart per Python version (compiled wheels differ)."""
    return f"py{sys.version_info.major}{sys.version_info.minor}"


def install_folder(file: Path, packages_dir: Path) -> Path:
    """Where the install of `file` lives: `PACKAGES_DIR/<sha256>/<pyXY>`."""
    return packages_dir / file_digest(file) / python_tag()


def site_packages(prefix: Path) -> Path:
    """The folder pip put the packages in under `--prefix` (`lib/pythonX.Y/site-packages` or the platform's)."""
    found = sorted(p for name in ("site-packages", "dist-packages") for p in prefix.glob(f"**/{name}") if p.is_dir())
    return found[0] if found else prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
        "site-packages"


def runtime_constraints() -> str:
    """`name==version` of every distribution of the running environment (local version labels dropped)."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name, version = dist.metadata["Name"] or "", (dist.version or "").split("+")[0]
        if _NAME.match(name) and _VERSION.match(version):
            pins.setdefault(name.lower(), f"{name}=={version}")
    return "".join(f"{pin}\n" for pin in sorted(pins.values()))


def install_requirements(file: Path, packages_dir: Path, timeout: float = PIP_TIMEOUT_SECONDS) -> tuple[Path, bool]:
    """Install `file` (cached by its sha256); (site-packages folder, whether it was already installed)."""
    if not file.is_file():
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"requirements file {file} not found")
    target = install_folder(file, packages_dir)
    if (target / COMPLETE_MARKER).is_file():
        return site_packages(target), True
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.parent.name}-", dir=target.parent))
    try:
        _pip_install(file, scratch, timeout)
        (scratch / COMPLETE_MARKER).write_text(f"{file_digest(file)}\n")
        _move_into_place(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return site_packages(target), False


def _move_into_place(scratch: Path, target: Path) -> None:
    """Rename the finished install to its cache folder; when another install got there first, keep that one."""
    try:
        scratch.rename(target)
    except OSError:
        if not (target / COMPLETE_MARKER).is_file():  # a leftover without the marker: replace it
            shutil.rmtree(target, ignore_errors=True)
            scratch.rename(target)


def _pip_install(file: Path, prefix: Path, timeout: float) -> None:
    """`pip install --prefix PREFIX -r FILE` under the runtime's constraints; FetchError with pip's last lines."""
    with tempfile.NamedTemporaryFile("w", suffix="-constraints.txt", delete=False) as constraints:
        constraints.write(runtime_constraints())
    command = [sys.executable, "-m", "pip", "install", "--prefix", str(prefix), "--no-input",
               "--disable-pip-version-check", "--no-cache-dir", "--no-warn-script-location", "--progress-bar", "off",
               "--constraint", constraints.name, "--requirement", str(file.resolve())]
    print(f"pip install -r {file.name} (sha256 {file_digest(file)[:12]}...)", flush=True)
    try:
        code, last = _run_echoing(command, file.resolve().parent, timeout)
    finally:
        os.unlink(constraints.name)
    if code is None:
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"pip install -r {file.name} took over {timeout:g} s")
    if code != 0:
        detail = " | ".join(last) or f"pip exited with {code}"
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"pip install -r {file.name}: {one_line(detail)}")


def _run_echoing(command: list[str], cwd: Path, timeout: float) -> tuple[int | None, list[str]]:
    """Run `command`, echoing its output as it comes (the init container's log shows pip's progress); its exit
    code (None when killed after `timeout` seconds) and last lines."""
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "PIP_REQUIRE_VIRTUALENV": "0", "PIP_USER": "0"}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    last: collections.deque[str] = collections.deque(maxlen=LAST_LINES)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last.append(line.strip())
        code = proc.wait()
    finally:
        timer.cancel()
    return (None if killed.is_set() else code), list(last)


def default_packages_cache() -> Path:
    """Where `predictorapi serve` keeps installed requirements: `$XDG_CACHE_HOME/predictorapi/python-packages`
    (`~/.cache/...`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "predictorapi" / PACKAGES_CACHE_FOLDER


def use_local_requirements(spec: PredictorAPISpec, root: Path, cache: Path | None = None) -> Path | None:
    """For `predictorapi serve` of code from `source.git` (its checkout at `root`): install the requirements the
    pod would install, into the local cache (reused while the file is unchanged), and put them on `sys.path`.
    Returns their folder; None when there are none (or the predictor comes in an image)."""
    wanted = requirements_file(spec)
    if wanted is None:
        return None
    path, required = wanted
    file = root / path
    if not file.is_file() and not required:
        return None
    site, _ = install_requirements(file, cache or default_packages_cache())
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    return site
