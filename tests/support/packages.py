"""Tiny real wheels, sdists and git repositories for the requirements tests: pip installs them with `--no-index
--find-links`, or from `simple_index`, a PEP 503 index served on loopback by `support.artifact_servers.file_server`
(a pod on the host network reaches it too); no network."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(folder: Path, name: str, version: str, code: str, module: str | None = None) -> Path:
    """A pure-Python wheel `NAME-VERSION-py3-none-any.whl` whose package `module` (default: NAME) holds `code`."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    files = {
        f"{module or name}/__init__.py": code.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(path, data) for path, data in files.items()] + [f"{info}/RECORD,,"]
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def write_sdist(folder: Path, name: str, version: str, setup_code: str) -> Path:
    """A source distribution `NAME-VERSION.tar.gz` whose `setup.py` runs `setup_code` (build code: what pip
    executes when it builds the package) before `setup()`; the package `NAME` is empty."""
    folder.mkdir(parents=True, exist_ok=True)
    root = f"{name}-{version}"
    files = {
        f"{root}/setup.py": f"{setup_code}\nfrom setuptools import setup\nsetup(name={name!r}, version={version!r}, "
                            f"packages=[{name!r}])\n".encode(),
        f"{root}/{name}/__init__.py": b"",
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    }
    sdist = folder / f"{root}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for path, data in files.items():
            entry = tarfile.TarInfo(path)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return sdist


def simple_index(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """A PEP 503 "simple" index of the distributions in `folder`, as `path -> content` for
    `support.artifact_servers.file_server`: `PREFIX/simple/<project>/` pages linking to `PREFIX/files/<file>`."""
    served: dict[str, bytes] = {}
    projects: dict[str, list[str]] = {}
    for dist in sorted(folder.iterdir()):
        project = re.sub(r"[-_.]+", "-", re.split(r"-\d", dist.name, maxsplit=1)[0]).lower()
        projects.setdefault(project, []).append(dist.name)
        served[f"{prefix}/files/{dist.name}"] = dist.read_bytes()
    for project, names in projects.items():
        links = "".join(f'<a href="../../files/{n}">{n}</a>\n' for n in names)
        served[f"{prefix}/simple/{project}/"] = f"<html><body>\n{links}</body></html>\n".encode()
    return served


def git_repo(folder: Path, files: dict[str, str]) -> str:
    """A git repository at `folder` with one commit on `main` holding `files`; returns the commit SHA."""
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True, capture_output=True)
    return git_commit(folder, files)


def git_commit(folder: Path, files: dict[str, str], message: str = "predictor") -> str:
    """Commit `files` (written over what is there) on the checked-out branch of `folder`; returns the SHA."""
    from support.gitservers import git

    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", message)
    return git(folder, "rev-parse", "HEAD")
