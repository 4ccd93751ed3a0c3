"""Refuse an install whose packages would shadow the runtime's own modules or the standard library.

Same-named distributions cannot replace the runtime's (they are pinned as constraints), but another
distribution may ship a top-level `pydantic/` or `json.py`. `check_no_shadowing(site)` looks at what pip put in
`site` and raises a `DependencyInstallFailed` :class:`FetchError` naming the distribution and the module when a
module (or a regular package) there is one the standard library or the running environment provides. Namespace
folders (`google/`) that the runtime shares are followed one level down, so `google.cloud` beside the runtime's
`google.protobuf` is fine and another `google/protobuf/` is not. The runtime also puts the packages after its
own import path (`RuntimeSettings.packages_path`), so even a name this check missed could not win.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from predictorapi.contracts.termination import DEPENDENCY_INSTALL_FAILED
from predictorapi.gitfetch import FetchError

STDLIB = "the standard library"
_METADATA_SUFFIXES = (".dist-info", ".egg-info", ".data")


def runtime_modules() -> dict[str, str]:
    """Dotted module names the running environment provides (the standard library's, every prefix of every file of
    its distributions, their `top_level.txt`, and the runtime's own package) -> who provides them (`name version`,
    or the standard library)."""
    provided = {name: STDLIB for name in (*sys.stdlib_module_names, *sys.builtin_module_names)}
    for dist in importlib.metadata.distributions():
        who = f"{dist.metadata['Name']} {dist.version}"
        for file in dist.files or ():
            for name in _module_names(file.parts):
                provided.setdefault(name, who)
        for name in (dist.read_text("top_level.txt") or "").split():
            provided.setdefault(name, who)
    provided.setdefault(__name__.partition(".")[0], "the runtime")
    return provided


def check_no_shadowing(site: Path) -> None:
    """Raise when a module installed in `site` is one the runtime or the standard library provides."""
    if not site.is_dir():
        return
    provided = runtime_modules()
    owners = _owners(site)
    for name in _installed(site, provided):
        dist = owners.get(name.partition(".")[0], "a requirement")
        raise FetchError(DEPENDENCY_INSTALL_FAILED, f"{dist} installs the module {name}, which {provided[name]} "
                         "provides: requirements may not replace the runtime's own modules or the standard library; "
                         "drop that package or use one that does not ship this name")


def _module_names(parts: tuple[str, ...]) -> list[str]:
    """`a/b/c.py` -> a, a.b, a.b.c; nothing for metadata, scripts outside site-packages or caches."""
    if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(_METADATA_SUFFIXES):
        return []
    if not (parts[-1].endswith((".py", ".pyc", ".so", ".pyd")) or len(parts) > 1):
        return []
    names = [p for p in parts[:-1] if p != "__pycache__"] + [parts[-1].split(".")[0]]
    if names[-1] == "__init__":
        names.pop()
    return [".".join(names[: i + 1]) for i in range(len(names)) if names[: i + 1] and names[i].isidentifier()]


def _installed(site: Path, provided: dict[str, str], prefix: str = "") -> list[str]:
    """Dotted names of the installed modules and regular packages that collide with provided ones."""
    out: list[str] = []
    for entry in sorted(site.iterdir()):
        if entry.name == "__pycache__" or entry.name.endswith(_METADATA_SUFFIXES):
            continue
        stem = entry.name.split(".")[0]
        if not stem.isidentifier():
            continue
        name = prefix + stem
        if entry.is_dir():
            regular = (entry / "__init__.py").is_file()
            if name in provided and (regular or provided[name] == STDLIB):
                out.append(name)
            elif name in provided:  # a namespace folder the runtime shares: look inside
                out += _installed(entry, provided, name + ".")
        elif entry.suffix in (".py", ".pyc", ".so", ".pyd") and name in provided:
            out.append(name)
    return out


def _owners(site: Path) -> dict[str, str]:
    """Top-level name -> `distribution version` that installed it, from the RECORD files in `site`."""
    owners: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[str(site)]):
        for file in dist.files or ():
            if file.parts and not file.parts[0].endswith(_METADATA_SUFFIXES):
                owners.setdefault(file.parts[0].split(".")[0], f"{dist.metadata['Name']} {dist.version}")
    return owners
