"""Read `PredictorAPI` manifests from YAML files or folders, with errors that name the field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from predictorapi.spec import GROUP, KIND, PredictorAPI
from predictorapi.validation import InvalidDocument, parse_document

YAML_SUFFIXES = (".yaml", ".yml")

_TIMESTAMP, _VALUE = "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class KubectlLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading scalars as kubectl and Argo CD do (sigs.k8s.io/yaml, go-yaml v2), so
    `validate`, `serve` and `render` see what the API server will store:

    - timestamps stay strings (`released: 2024-01-01` is the string "2024-01-01", not a date, which
      JSON cannot carry);
    - `1:30` (YAML 1.1 base 60) is a string, not 90; a lone `=` is a string, not an error;
    - mapping keys become strings (`1: a` is `"1": a`), as JSON requires.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        self.flatten_mapping(node)  # merge keys (`<<: *base`), as SafeLoader does
        return {_key(self.construct_object(key, deep=deep)): self.construct_object(value, deep=deep)
                for key, value in node.value}


def _key(key: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return str(key) if isinstance(key, int) else f"{key:g}"
    raise yaml.constructor.ConstructorError(None, None, f"unsupported mapping key {key!r} (JSON keys are strings)")


# PyYAML's int and float resolvers without their base-60 alternatives (go-yaml v2 has none).
_INT_RE = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT_RE = re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


def _kubectl_resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    replaced = {_INT: _INT_RE, _FLOAT: _FLOAT_RE}
    return {first: [(tag, replaced.get(tag, regexp)) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _VALUE)]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


KubectlLoader.yaml_implicit_resolvers = _kubectl_resolvers()
KubectlLoader.add_constructor(_TIMESTAMP, lambda loader, node: loader.construct_scalar(node))  # explicit !!timestamp


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, read as kubectl reads it (:class:`KubectlLoader`)."""
    return list(yaml.load_all(text, Loader=KubectlLoader))


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
            documents = load_yaml_documents(file.read_text())
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
