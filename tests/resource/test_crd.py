"""The generated CRD: committed copy up to date, structural, valid for the API server, examples pass it."""

from __future__ import annotations

import subprocess

import kubernetes_validate
import pytest
import yaml
from support.manifests import example_documents
from support.processes import CLI, REPO

from predictorapi.crd import build_crd, crd_yaml
from predictorapi.validation import apply_defaults, validate_document

CRD_FILE = REPO / "crds" / "predictorapi.yaml"
KUBERNETES_VERSIONS = ("1.37.0", "1.36.0")  # the two newest minors kubernetes-validate knows


def test_committed_crd_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == crd_yaml(), "crds/ is stale: run `predictorapi crd -o crds/predictorapi.yaml`"
    result = subprocess.run([*CLI, "crd", "-o", str(CRD_FILE), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_crd_check_flags_a_stale_file(tmp_path) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text(crd_yaml().replace("papi", "pa"))
    result = subprocess.run([*CLI, "crd", "-o", str(stale), "--check"], capture_output=True, text=True)
    assert result.returncode == 1 and "out of date" in result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_crd_validates_against_apiextensions_v1(version: str) -> None:
    kubernetes_validate.validate(yaml.safe_load(CRD_FILE.read_text()), version, strict=True)


def _walk(node: dict, path: str):
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "$ref" not in CRD_FILE.read_text()
    for path, node in _walk(schema, ""):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert "anyOf" not in node and "oneOf" not in node and "allOf" not in node, path
        if node.get("type") == "object" and path != ".metadata":  # the API server owns metadata's schema
            assert "properties" in node or "additionalProperties" in node or node.get(
                "x-kubernetes-preserve-unknown-fields"), f"{path} is an object with no schema"
        assert not isinstance(node.get("exclusiveMinimum"), int | float) or isinstance(
            node["exclusiveMinimum"], bool), f"{path}: exclusiveMinimum must be a boolean in OpenAPI v3.0"
    spec = schema["properties"]["spec"]
    for path, node in _walk(spec, "spec"):
        if path != "spec" and not path.endswith(("[]", "{}")) and not path.startswith("spec.predictor.config"):
            assert node.get("description"), f"{path} has no description"


def test_names_subresources_and_columns() -> None:
    crd = build_crd()
    names = crd["spec"]["names"]
    assert (crd["spec"]["group"], names["kind"], names["plural"], names["shortNames"]) == (
        "serving.predictorapi.dev", "PredictorAPI", "predictorapis", ["papi"])
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["labelSelectorPath"] == ".status.selector"
    columns = [c["name"].upper() for c in version["additionalPrinterColumns"]]
    assert columns[:3] == ["READY", "STATUS", "URL"] and columns[-1] == "AGE"


def test_cel_rules_sit_on_the_fields_they_name() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = {path: node["x-kubernetes-validations"] for path, node in _walk(schema, "")
             if "x-kubernetes-validations" in node}
    assert {".spec.autoscaling", ".spec.predictor", ".spec.updateStrategy", ".spec.updateStrategy.maxSurge",
            ".spec.updateStrategy.maxUnavailable", ".spec.predictor.env[]"} <= set(rules)
    for path, node_rules in rules.items():
        for rule in node_rules:
            assert rule["message"], path


@pytest.mark.parametrize(("path", "document"), example_documents(), ids=lambda v: getattr(v, "parent", v).name
                         if hasattr(v, "parent") else "doc")
def test_examples_pass_the_crd(path, document) -> None:
    assert validate_document(document) == [], path


def test_openapi_defaults_fill_nested_objects() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    document = {"spec": {"predictor": {"image": "x", "path": "p.py"}}}
    spec = apply_defaults(schema, document)["spec"]
    assert spec["autoscaling"]["minReplicas"] == 1 and spec["autoscaling"]["metric"] == "concurrency"
    assert spec["maxConcurrency"] == 4 and spec["predictor"]["className"] == "PythonPredictor"
    assert spec["updateStrategy"] == {"mode": "Surge", "maxSurge": "25%", "maxUnavailable": 0}
    assert spec["batching"] == {"maxBatchSize": 1, "batchTimeoutMilliseconds": 10}
