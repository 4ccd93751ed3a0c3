"""Install a predictor's pip requirements into a cache folder keyed by everything that decides the result.

`install_requirements(file, root, packages_dir)` installs `file` (in the checkout `root`) with the running
interpreter's pip (`pip install --prefix`) into `PACKAGES_DIR/<key>/`, and returns that install's site-packages
folder, to be put on the import path after the runtime's own. The key (:func:`cache_key`) hashes every file the
requirements pull in with `-r`/`-c` and every local path they install (`requirement_files`), the `PIP_*`
environment and pip's configuration files, the runtime's own package set (:func:`runtime_constraints`) and the
Python version: changing any of them installs again, and two APIs share an install only when all are equal. A
folder already complete is reused without running pip (a cache hit: a second replica on the model cache claim, a
second `predictorapi serve`). Two installs of the same key at once (replicas starting together) each install into
a scratch folder and rename it into place; the first rename wins, the other is discarded.

Requirements may add packages but never change the runtime's own: every distribution of the running
environment is passed to pip as a constraint (`name==version`), so a requirement that needs another version
of, say, pydantic fails the install with pip's explanation instead of breaking the server; and an install that
ships a module the runtime or the standard library provides under another distribution's name is refused
(`shadowing`). Packages the environment already satisfies are not installed again.

A failure is a :class:`~predictorapi.gitfetch.FetchError` with reason `DependencyInstallFailed` and pip's
last lines (scrubbed of the given secrets, URL credentials and `Authorization` values) as detail: the
`install-packages` termination message, and so the `Degraded` reason.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from predictorapi.contracts.pod import PACKAGES_CACHE_FOLDER
from predictorapi.contracts.termination import DEPENDENCY_INSTALL_FAILED
from predictorapi.gitfetch import FetchError, one_line
from predictorapi.requirement_files import keyed_inputs
from predictorapi.runtime_env import requirements_file
from predictorapi.secrets_scrub import scrub
from predictorapi.shadowing import check_no_shadowing
from predictorapi.spec import PredictorAPISpec

COMPLETE_MARKER = ".predictorapi-complete"
"""Written into an install folder once pip succeeded; a folder without it is not used."""
KEY_VERSION = b"predictorapi-packages-2"
"""Changes when what the key covers changes, so older installs are not mistaken for new ones."""
PIP_TIMEOUT_SECONDS = 1800.0
LAST_LINES = 6
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$")


def pip_config_files(environ: Mapping[str, str]) -> list[Path]:
    """The configuration files pip reads (global, user, site, then `PIP_CONFIG_FILE`)."""
    home = Path(environ.get("HOME") or Path.home())
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = [Path("/etc/xdg/pip/pip.conf"), Path("/etc/pip.conf"), home / ".pip" / "pip.conf",
             xdg / "pip" / "pip.conf", Path(sys.prefix) / "pip.conf"]
    return files + ([Path(environ["PIP_CONFIG_FILE"])] if environ.get("PIP_CONFIG_FILE") else [])


def cache_key(file: Path, root: Path, allowed_indexes: Sequence[str] = (),
              environ: Mapping[str, str] | None = None) -> str:
    """sha256 of everything that decides the install of `file`: the files and local paths it pulls in, the `PIP_*`
    variables and pip's configuration files, the runtime's package set and the Python build. Refuses requirements
    that cannot be keyed (see `requirement_files`)."""
    environ = os.environ if environ is None else environ
    digest = hashlib.sha256(KEY_VERSION)

    def add(label: str, data: bytes) -> None:
        digest.update(b"%d:%s\0%d:" % (len(label), label.encode(), len(data)) + data)

    for label, data in keyed_inputs(file, root, allowed_indexes):
        add(label, data)
    for name in sorted(k for k in environ if k.startswith("PIP_")):
        add(f"env:{name}", environ[name].encode())
    for config in pip_config_files(environ):
        if config.is_file():
            add(f"pip.conf:{config}", config.read_bytes())
    add("runtime", runtime_constraints().encode())
    add("python", f"{sys.version}|{sys.implementation.cache_tag}|{platform.machine()}|{sys.platform}".encode())
    return digest.hexdigest()


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


def install_requirements(file: Path, root: Path, packages_dir: Path, allowed_indexes: Sequence[str] = (),
                         secrets: Iterable[str] = (), timeout: float = PIP_TIMEOUT_SECONDS) -> tuple[Path, bool]:
    """Install `file` of the checkout `root` (cached by :func:`cache_key`); (site-packages folder, whether it was
    already installed). `secrets` are scrubbed from pip's output."""
    if not file.is_file():
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"requirements file {file} not found")
    key = cache_key(file, root, allowed_indexes)
    target = packages_dir / key
    if (target / COMPLETE_MARKER).is_file():
        return site_packages(target), True
    packages_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=packages_dir))
    try:
        _pip_install(file, scratch, list(secrets), timeout)
        check_no_shadowing(site_packages(scratch))
        (scratch / COMPLETE_MARKER).write_text(f"{key}\n")
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


def _pip_install(file: Path, prefix: Path, secrets: list[str], timeout: float) -> None:
    """`pip install --prefix PREFIX -r FILE` under the runtime's constraints; FetchError with pip's last lines."""
    with tempfile.NamedTemporaryFile("w", suffix="-constraints.txt", delete=False) as constraints:
        constraints.write(runtime_constraints())
    command = [sys.executable, "-m", "pip", "install", "--prefix", str(prefix), "--no-input",
               "--disable-pip-version-check", "--no-cache-dir", "--no-warn-script-location", "--progress-bar", "off",
               "--constraint", constraints.name, "--requirement", str(file.resolve())]
    print(f"pip install -r {file.name}", flush=True)
    try:
        code, last = _run_echoing(command, file.resolve().parent, secrets, timeout)
    finally:
        os.unlink(constraints.name)
    if code is None:
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"pip install -r {file.name} took over {timeout:g} s")
    if code != 0:
        errors = [line for line in last if line.startswith("ERROR:")]  # pip's verdict first, then its context
        detail = " | ".join(errors + [line for line in last if line not in errors]) or f"pip exited with {code}"
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"pip install -r {file.name}: {one_line(detail)}")


def _run_echoing(command: list[str], cwd: Path, secrets: list[str], timeout: float) -> tuple[int | None, list[str]]:
    """Run `command`, echoing its output, scrubbed, as it comes (the init container's log shows pip's progress);
    its exit code (None when killed after `timeout` seconds) and last lines (scrubbed)."""
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "PIP_REQUIRE_VIRTUALENV": "0", "PIP_USER": "0"}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
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
            line = scrub(line, secrets)
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


def local_requirements_site(spec: PredictorAPISpec, root: Path, cache: Path | None = None) -> Path | None:
    """For `predictorapi serve` of code from `source.git` (its checkout at `root`): install the requirements the
    pod would install, into the local cache (reused while nothing in the key changes). Returns their
    site-packages folder (the runtime's `packages_path`); None when there are none (or the predictor comes in an
    image)."""
    wanted = requirements_file(spec)
    if wanted is None:
        return None
    path, required = wanted
    file = root / path
    if not file.is_file() and not required:
        return None
    site, _ = install_requirements(file, root, cache or default_packages_cache(), spec.predictor.allowed_index_urls)
    return site
