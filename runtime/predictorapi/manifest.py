"""Read `PredictorAPI` manifests from YAML files or folders, with errors that name the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from predictorapi.spec import API_VERSION, KIND, PredictorAPI

YAML_SUFFIXES = (".yaml", ".yml")


class ManifestError(Exception):
    """A manifest that cannot be used; the message names the file and the field."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('spec', 'predictor', 'path')` → `spec.predictor.path`; list indexes as `[0]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validation_problems(error: ValidationError) -> list[str]:
    """One `field: message` line per problem pydantic found."""
    return [f"{field_path(item['loc'])}: {item['msg']}" for item in error.errors(include_url=False)]


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


def is_predictorapi(document: dict[str, Any]) -> bool:
    """Whether a YAML document is a PredictorAPI of this API version."""
    return document.get("kind") == KIND and document.get("apiVersion") == API_VERSION


def parse(document: dict[str, Any], source: Path | str = "<manifest>") -> PredictorAPI:
    """Validate one document as the API server would (schema and CEL rules); a ManifestError names
    every bad field."""
    from predictorapi.validation import validate_document  # it imports this module

    problems = validate_document(document)
    if problems:
        raise ManifestError(f"{source}: " + "; ".join(map(str, problems)))
    try:
        return PredictorAPI.model_validate(document)
    except ValidationError as exc:
        raise ManifestError(f"{source}: " + "; ".join(validation_problems(exc))) from None


def load_manifest(path: Path | str) -> PredictorAPI:
    """The one PredictorAPI in a YAML file, or in a folder's YAML files."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such file or folder")
    documents = list(iter_documents(path))
    if path.is_dir():
        documents = [(file, doc) for file, doc in documents if doc.get("kind") == KIND]
    if not documents:
        raise ManifestError(f"{path}: kind: no {KIND} manifest found")
    if len(documents) > 1:
        raise ManifestError(f"{path}: holds {len(documents)} documents; serve one PredictorAPI at a time")
    file, document = documents[0]
    return parse(document, file)
