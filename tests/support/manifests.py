"""PredictorAPI manifests for tests: the shipped examples and a minimal valid one to mutate."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from support.processes import REPO

EXAMPLE_MANIFESTS = sorted((REPO / "examples").glob("*/predictorapi.yaml"))


def example_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every PredictorAPI document under examples/, with its file."""
    return [(path, doc) for path in EXAMPLE_MANIFESTS for doc in yaml.safe_load_all(path.read_text())
            if isinstance(doc, dict) and doc.get("kind") == "PredictorAPI"]


MINIMAL: dict[str, Any] = {
    "apiVersion": "serving.predictorapi.dev/v1alpha1",
    "kind": "PredictorAPI",
    "metadata": {"name": "demo", "namespace": "models"},
    "spec": {"predictor": {"image": "registry.example/demo:1", "path": "predictor.py"}},
}


def manifest(**spec: Any) -> dict[str, Any]:
    """A valid PredictorAPI document with `spec` keys replaced."""
    document = copy.deepcopy(MINIMAL)
    document["spec"].update(copy.deepcopy(spec))
    return document
