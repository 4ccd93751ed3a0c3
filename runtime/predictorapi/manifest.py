"""Read `PredictorAPI` manifests from YAML files or folders, with errors that name the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from predictorapi.spec import GROUP, KIND, PredictorAPI
from predictorapi.validation import InvalidDocument, parse_document

YAML_SUFFIXES = (".yaml", ".yml")


class ManifestError(Exception):
    """A manifest that cannot be used; the message names the file and the field."""


def is_predictorapi(document: dict[str, Any]) -> bool:
    """Whether a YAML document means to be a PredictorAPI (its kind, or an apiVersion of our group)."""
    return document.get("kind") == KIND or str(document.get("apiVersion", "")).startswith(f"{GROUP}/")


def iter_documents(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every YAML mapping in a file, or in the YAML files of a folder (recursively), with its file."""
    files = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES) if path.is_dir() else [path]
    for file in files:
        try:
            documents = list(yaml.safe_load_all(file.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(f"{file}: cannot read YAML: {exc}") from None
        for document in documents:
            if isinstance(document, dict):
                yield file, document


def iter_predictorapis(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The PredictorAPI documents of a file or folder, with their files."""
    return ((file, document) for file, document in iter_documents(path) if is_predictorapi(document))


def parse(document: dict[str, Any], source: Path | str = "<manifest>") -> PredictorAPI:
    """Validate one document as the API server would (schema and CEL rules); a ManifestError names
    every bad field."""
    try:
        return parse_document(document)
    except InvalidDocument as exc:
        raise ManifestError(f"{source}: {exc}") from None


def load_manifest(path: Path | str) -> PredictorAPI:
    """The one PredictorAPI in a YAML file, or in a folder's YAML files."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such file or folder")
    documents = list(iter_predictorapis(path) if path.is_dir() else iter_documents(path))
    if not documents:
        raise ManifestError(f"{path}: kind: no {KIND} manifest found")
    if len(documents) > 1:
        raise ManifestError(f"{path}: holds {len(documents)} documents; serve one PredictorAPI at a time")
    file, document = documents[0]
    return parse(document, file)
