"""What kubectl and the API server do, `predictorapi` does too: YAML read as kubectl reads it (dates stay
strings, through validate, serve and render), quantities parsed as Kubernetes parses them, the config size
limit, and `kubectl scale` (the scale subresource writes `spec.replicas`, which pins the replica count)."""

from __future__ import annotations

import copy
import json
import subprocess
from decimal import Decimal
from typing import Any

import httpx
import pytest
import yaml
from kubernetes.utils import parse_quantity as client_parse_quantity
from support.manifests import EXAMPLE_MANIFESTS, MINIMAL, manifest
from support.processes import CLI, free_port, running

from predictorapi.crd import build_crd
from predictorapi.manifest import load_manifest, load_yaml_documents
from predictorapi.names import parse_quantity
from predictorapi.runtime_env import runtime_env
from predictorapi.spec import MAX_CONFIG_BYTES, PredictorAPI, config_size
from predictorapi.validation import validate_document
from predictorapi_operator.builders import build_children

DATED = """\
apiVersion: serving.predictorapi.dev/v1alpha1
kind: PredictorAPI
metadata:
  name: dated
spec:
  predictor:
    image: registry.example/dated:1
    path: predictor.py
    config:
      released: 2024-01-01
      checked: 2024-01-01T10:00:00Z
      window: 1:30
      1: one
"""
DATED_CONFIG = {"released": "2024-01-01", "checked": "2024-01-01T10:00:00Z", "window": "1:30", "1": "one"}
ECHO_PREDICTOR = """\
class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload):
        return {"config": self.config}
"""


@pytest.fixture
def dated(tmp_path):
    (tmp_path / "predictorapi.yaml").write_text(DATED)
    (tmp_path / "predictor.py").write_text(ECHO_PREDICTOR)
    return tmp_path / "predictorapi.yaml"


def test_yaml_dates_are_strings_as_with_kubectl(dated) -> None:
    (document,) = load_yaml_documents(dated.read_text())
    assert document["spec"]["predictor"]["config"] == DATED_CONFIG
    assert validate_document(document) == []
    result = subprocess.run([*CLI, "validate", str(dated)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    api = load_manifest(dated)
    assert api.spec.predictor.config == DATED_CONFIG
    env = runtime_env(api.metadata.name, api.spec)
    assert json.loads(env["PREDICTORAPI_PREDICTOR_CONFIG"]) == DATED_CONFIG


def test_render_passes_the_date_through_as_a_string(dated) -> None:
    result = subprocess.run([*CLI, "render", str(dated)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    deployment = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert json.loads(env["PREDICTORAPI_PREDICTOR_CONFIG"]) == DATED_CONFIG


def test_serve_hands_the_predictor_the_date_as_a_string(dated) -> None:
    port = free_port()
    with running([*CLI, "serve", str(dated), "--port", str(port)], port):
        response = httpx.post(f"http://127.0.0.1:{port}/", json={}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"config": DATED_CONFIG}


def test_yaml_keeps_merge_keys_and_refuses_keys_json_cannot_have() -> None:
    (document,) = load_yaml_documents("base: &b {a: 1, b: 2}\nmerged: {<<: *b, b: 3}\ntrue: yes\n")
    assert document == {"base": {"a": 1, "b": 2}, "merged": {"a": 1, "b": 3}, "true": True}
    with pytest.raises(yaml.YAMLError, match="mapping key"):
        load_yaml_documents("{null: 1}")


# --- quantities ----------------------------------------------------------------------------------------------

VALID = ["0", "1", "+1", "-1", "1.5", ".5", "5.", "500m", "250000u", "10n", "2k", "2M", "3G", "1T", "1P", "1E",
         "1Ki", "1.5Gi", "512Mi", "2Ti", "1Pi", "1Ei", "1e3", "1E3", "1e-3", "1.5e+2"]
INVALID = ["", " 1", "1 ", "1_000", "Infinity", "nan", "lots", "1K", "2Gigs", "2gi", "1e", "1e1.5", ".", "1.2.3",
           "1Mi2", "--1", "0x10"]
CLIENT_IS_LOOSER = {" 1", "1 ", "1_000", "Infinity", "nan", "1K"}
"""Refused by Go's `resource.ParseQuantity`, accepted by the Python client's approximation of it."""


@pytest.mark.parametrize("text", VALID)
def test_quantities_parse_as_kubernetes_reads_them(text: str) -> None:
    assert parse_quantity(text) == client_parse_quantity(text)


@pytest.mark.parametrize("text", INVALID)
def test_quantities_kubernetes_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)
    if text not in CLIENT_IS_LOOSER:
        with pytest.raises(ValueError):
            client_parse_quantity(text)
    assert validate_document(manifest(compute={"memory": text})) != []


def test_ints_are_quantities() -> None:
    assert parse_quantity(3) == Decimal(3)


# --- config size ----------------------------------------------------------------------------------------------


def test_config_size_counts_what_the_env_var_and_the_annotation_carry() -> None:
    assert MAX_CONFIG_BYTES == 65536
    assert config_size({"a": [1, 2]}) == len('{"a":[1,2]}')
    assert config_size({"a": "é"}) == len('{"a":"\\u00e9"}')
    assert config_size({"a": "<&>"}) == len('{"a":"\\u003c\\u0026\\u003e"}')
    at_limit = {"blob": "x" * (MAX_CONFIG_BYTES - len('{"blob":""}'))}
    assert config_size(at_limit) == MAX_CONFIG_BYTES
    assert validate_document(manifest(predictor={**MINIMAL["spec"]["predictor"], "config": at_limit})) == []
    over = {"blob": at_limit["blob"][:-3] + "<"}
    problems = validate_document(manifest(predictor={**MINIMAL["spec"]["predictor"], "config": over}))
    assert [p.field for p in problems] == ["spec.predictor.config"] and "65536" in problems[0].message


# --- examples ---------------------------------------------------------------------------------------------------


def test_examples_and_the_minimal_manifest_pass_the_cli(tmp_path) -> None:
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(yaml.safe_dump(MINIMAL))
    result = subprocess.run([*CLI, "validate", *map(str, EXAMPLE_MANIFESTS), str(minimal)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert EXAMPLE_MANIFESTS


# --- kubectl scale ----------------------------------------------------------------------------------------------


def kinds(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert validate_document(document) == []
    return {c["kind"]: c for c in build_children(PredictorAPI.model_validate(document))}


def scaled(document: dict[str, Any], replicas: int) -> dict[str, Any]:
    """What `kubectl scale papi NAME --replicas=N` leaves: the scale subresource's specReplicasPath set."""
    path = build_crd()["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"]
    assert path == ".spec.replicas"
    document = copy.deepcopy(document)
    document["spec"]["replicas"] = replicas
    return document


def test_scale_subresource_points_at_an_int32_field() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    replicas = schema["properties"]["replicas"]
    assert (replicas["type"], replicas["minimum"], replicas["maximum"]) == ("integer", 0, 2**31 - 1)
    assert "default" not in replicas and "kubectl scale" in replicas["description"]


def test_kubectl_scale_on_the_default_spec_gives_that_many_replicas() -> None:
    children = kinds(scaled(MINIMAL, 3))
    assert children["Deployment"]["spec"]["replicas"] == 3
    assert "HorizontalPodAutoscaler" not in children and "PodDisruptionBudget" in children


def test_spec_replicas_pins_the_count_over_an_autoscaler() -> None:
    autoscaled = manifest(autoscaling={"minReplicas": 1, "maxReplicas": 5})
    assert "HorizontalPodAutoscaler" in kinds(autoscaled) and "replicas" not in kinds(autoscaled)["Deployment"]["spec"]
    pinned = kinds(scaled(autoscaled, 2))
    assert pinned["Deployment"]["spec"]["replicas"] == 2 and "HorizontalPodAutoscaler" not in pinned
    stopped = kinds(scaled(autoscaled, 0))
    assert stopped["Deployment"]["spec"]["replicas"] == 0
    assert "HorizontalPodAutoscaler" not in stopped and "PodDisruptionBudget" not in stopped
    single = kinds(scaled(manifest(autoscaling={"minReplicas": 2, "maxReplicas": 2}), 1))
    assert single["Deployment"]["spec"]["replicas"] == 1 and "PodDisruptionBudget" not in single


def test_scaling_does_not_roll_the_pods() -> None:
    def pod_annotations(document: dict[str, Any]) -> dict[str, str]:
        return kinds(document)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert pod_annotations(scaled(MINIMAL, 4)) == pod_annotations(MINIMAL)  # the spec hash among them
