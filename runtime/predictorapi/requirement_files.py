"""What a requirements file pulls in, read as pip reads it, for the install's cache key; what cannot be keyed is
refused before pip runs.

`keyed_inputs(file, root, allowed_indexes)` follows `-r`/`-c` recursively and returns every input that decides
the install: each requirements or constraints file's bytes, and the content of each local path it installs
(`./pkg`, `dist/x.whl`, `file:` URLs). Refused, as a `DependencyInstallFailed` :class:`FetchError` naming the file
and line:

* `-r`/`-c` of a URL, or of a path that leaves `root` (the checkout; e.g. a mounted Secret);
* local paths outside `root`, `-e`/`--editable` (an install that points back into this pod's checkout);
* index options (`--index-url`/`-i`, `--extra-index-url`, `--find-links`/`-f`, `--trusted-host`) whose value the
  spec does not allow by name (`predictor.allowedIndexUrls`; `--trusted-host` takes the host of one of them).
  Indexes given to pip through `PIP_*` variables are part of the key and need no listing.

`${NAME}` references are expanded from the environment first, as pip does.
"""

from __future__ import annotations

import os
import re
import shlex
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path

from predictorapi.contracts.termination import DEPENDENCY_INSTALL_FAILED
from predictorapi.gitfetch import FetchError

INDEX_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--trusted-host")
_SHORT = {"-r": "--requirement", "-c": "--constraint", "-e": "--editable", "-i": "--index-url",
          "-f": "--find-links"}
_WITH_VALUE = {"--requirement", "--constraint", "--editable", *INDEX_OPTIONS, "--only-binary", "--no-binary",
               "--use-feature", "--hash", "--config-settings", "--global-option", "--install-option"}
_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar")


def keyed_inputs(file: Path, root: Path, allowed_indexes: Sequence[str] = ()) -> list[tuple[str, bytes]]:
    """(label, bytes) of every file and local path `file` pulls in, in pip's order; refuses what cannot be keyed."""
    root = root.resolve()
    out: list[tuple[str, bytes]] = []
    _read(file.resolve(), root, file.resolve().parent, tuple(u.rstrip("/") for u in allowed_indexes), out, set())
    return out


def _read(file: Path, root: Path, cwd: Path, allowed: tuple[str, ...], out: list[tuple[str, bytes]],
          seen: set[Path]) -> None:
    shown = _shown(file, root)
    if file in seen:
        return
    seen.add(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"cannot read {shown}: {exc.strerror}") from None
    out.append((f"file:{shown}", data))
    for number, line in _logical_lines(data.decode("utf-8-sig", errors="replace")):
        where = f"{shown} line {number}"
        tokens = _tokens(line, where)
        if not tokens:
            continue
        if not tokens[0].startswith("-"):
            requirement = " ".join(tokens[: next((i for i, t in enumerate(tokens) if t.startswith("-")),
                                                 len(tokens))])
            _check_requirement(requirement, root, cwd, where, out)
        for option, value in _options(tokens):
            if option in ("--requirement", "--constraint"):
                _read(_nested(value, file, root, where, option), root, cwd, allowed, out, seen)
            elif option == "--editable":
                raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{where}: editable installs (-e {value}) are not "
                                 "supported: they point into one pod's checkout; install the package normally")
            elif option in INDEX_OPTIONS and not _allowed(option, value, allowed):
                raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{where}: {option} {value} is not allowed: list the "
                                 "URL in spec.predictor.allowedIndexUrls, or give pip the index with PIP_INDEX_URL "
                                 "in spec.predictor.env")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with continuations joined, comments stripped and `${NAME}` expanded."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line, pending = pending + raw, ""
        line = _COMMENT.sub("", line).strip()
        if line:
            yield start, _ENV_VAR.sub(lambda m: os.environ.get(m[1], m[0]), line)
    if pending.strip():
        yield start, pending.strip()


def _tokens(line: str, where: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{where}: cannot parse the line: {exc}") from None


def _options(tokens: list[str]) -> Iterator[tuple[str, str]]:
    """(long option name, value) of each option token that takes a value."""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-"):
            continue
        name, eq, value = token.partition("=")
        if not token.startswith("--") and name[:2] in _SHORT:
            name, value, eq = _SHORT[name[:2]], token[2:], "=" if len(token) > 2 else ""
        if name in _WITH_VALUE:
            if not eq and i < len(tokens):
                value, i = tokens[i], i + 1
            yield name, value


def _nested(value: str, parent: Path, root: Path, where: str, option: str) -> Path:
    """The file a `-r`/`-c` names (relative to the file naming it, as pip resolves it), inside `root`."""
    scheme = _SCHEME.match(value)
    if scheme and len(scheme[1]) > 1 and scheme[1].lower() != "file":
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{where}: {option} {value}: requirements from a URL are not "
                         "supported (their content cannot be checked); commit the file")
    path = Path(urllib.parse.urlparse(value).path if scheme and len(scheme[1]) > 1 else value)
    return _inside(parent.parent / path, root, where, f"{option} {value}")


def _check_requirement(requirement: str, root: Path, cwd: Path, where: str,
                       out: list[tuple[str, bytes]]) -> None:
    """Key a local path requirement by its content (refused outside `root`); names and remote URLs are keyed by
    the file's text."""
    target = requirement.split(";")[0].strip()
    name_part, at, url = target.partition("@")
    if at and not any(c in name_part for c in ":/"):  # `name @ url`
        target = url.strip()
    scheme = _SCHEME.match(target)
    if scheme and len(scheme[1]) > 1:  # a URL (a Windows drive letter is not a scheme)
        name = scheme[1].lower()
        if name.endswith("+file") or name == "file":
            if name != "file":
                raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{where}: {requirement}: a local repository cannot "
                                 "be checked; commit the package or name a release")
            target = urllib.parse.unquote(urllib.parse.urlparse(target).path)
        else:
            return
    elif not (target.startswith(".") or "/" in target or target.lower().endswith(_ARCHIVE)):
        return  # a name with a version specifier
    path = _inside(cwd / re.sub(r"\[[^\]]*\]$", "", target), root, where, requirement)
    out.append((f"path:{_shown(path, root)}", _content(path, root)))


def _inside(path: Path, root: Path, where: str, what: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{where}: {what} is outside the checked-out code; "
                         "requirements may only use files of the repository")
    return resolved


def _content(path: Path, root: Path) -> bytes:
    """The bytes of a file, or of every file under a folder (with their names, `.git` left out)."""
    if path.is_file():
        return path.read_bytes()
    parts: list[bytes] = []
    for entry in sorted(path.rglob("*")):
        if ".git" in entry.relative_to(path).parts or not entry.is_file():
            continue
        if not entry.resolve().is_relative_to(root):
            raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{_shown(entry, root)} links outside the checked-out code")
        parts += [str(entry.relative_to(path)).encode(), b"\0", entry.read_bytes(), b"\0"]
    return b"".join(parts)


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _allowed(option: str, value: str, allowed: tuple[str, ...]) -> bool:
    if option == "--trusted-host":
        return any(value in (parts.netloc.rpartition("@")[2], parts.hostname)
                   for parts in map(urllib.parse.urlsplit, allowed))
    return value.rstrip("/") in allowed
