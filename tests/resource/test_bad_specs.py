"""Validation parity: every spec in `support.bad_specs` is refused by the real `predictorapi validate`, naming
its field; the generated CRD alone (schema + CEL, as the API server evaluates them) refuses exactly the
ones marked `in_crd`; and specs Kubernetes accepts are still accepted."""

from __future__ import annotations

import copy
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import cel
import pytest
import yaml
from jsonschema import Draft4Validator, ValidationError, validators
from support.bad_specs import BAD_SPECS, BadSpec
from support.manifests import manifest
from support.processes import CLI, REPO

from predictorapi.validation import validate_document

CRD_FILE = REPO / "crds" / "predictorapi.yaml"


def test_the_table_is_large_and_its_ids_unique() -> None:
    ids = [case.id for case in BAD_SPECS]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    assert sum(case.in_crd for case in BAD_SPECS) >= 40


# --- through the real CLI ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """`predictorapi validate FILE` for each bad spec, a few at a time."""
    folder = tmp_path_factory.mktemp("bad-specs")

    def run(case: BadSpec) -> tuple[str, tuple[Path, subprocess.CompletedProcess]]:
        path = folder / f"{case.id}.yaml"
        path.write_text(yaml.safe_dump(case.document))
        return case.id, (path, subprocess.run([*CLI, "validate", str(path)], capture_output=True, text=True))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, BAD_SPECS))


@pytest.mark.parametrize("case", BAD_SPECS, ids=lambda case: case.id)
def test_validate_refuses_naming_the_field(case: BadSpec, cli_results) -> None:
    path, result = cli_results[case.id]
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{path}: {case.field}: ") for line in lines), lines


@pytest.mark.parametrize("case", BAD_SPECS, ids=lambda case: case.id)
def test_validate_document_agrees(case: BadSpec) -> None:
    problems = validate_document(case.document)
    assert any(p.field == case.field for p in problems), [str(p) for p in problems]
    assert all(p.message for p in problems)


# --- the CRD alone, as the API server evaluates it ------------------------------------------------------------


def _go_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    """OpenAPI `pattern` with Go's RE2 meaning of `$` (the end of the text, not before a final newline)."""
    if validator.is_type(instance, "string") and not re.search(re.sub(r"(?<!\\)\$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


GoValidator = validators.extend(Draft4Validator, {"pattern": _go_pattern})


@cache
def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def defaulted(schema: dict[str, Any], value: Any) -> Any:
    """The API server's defaulting: absent properties with a `default` get it, depth first."""
    if isinstance(value, dict) and "properties" in schema:
        value = {**{k: copy.deepcopy(s["default"]) for k, s in schema["properties"].items()
                    if "default" in s and k not in value}, **value}
        return {k: defaulted(schema["properties"].get(k, {}), v) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [defaulted(schema["items"], item) for item in value]
    return value


def cel_failures(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    failures = []
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name in value:
                failures += cel_failures(child, value[name], f"{path}.{name}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            failures += cel_failures(schema["items"], item, f"{path}[{index}]")
    for rule in schema.get("x-kubernetes-validations", []):
        if cel.evaluate(rule["rule"], {"self": value}) is not True:
            failures.append(f"{path}{rule.get('fieldPath', '')}: {rule['message']}")
    return failures


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _refusal(error: ValidationError) -> str:
    """A schema error as "field: message", a missing required field named as the API server names it (its own path,
    "Required value")."""
    if error.validator == "required" and (missing := re.match(r"'([^']+)' is a required property", error.message)):
        return f"{_path([*error.absolute_path, missing.group(1)])}: Required value"
    return f"{_path(error.absolute_path)}: {error.message}"


def crd_refusals(document: dict[str, Any]) -> list[str]:
    """What the CRD's structural schema, then its CEL rules, refuse in a document ("field: message")."""
    schema = crd_schema()
    document = defaulted(schema, document)
    errors = [_refusal(e) for e in GoValidator(schema).iter_errors(document)]
    return errors or cel_failures(schema["properties"]["spec"], document["spec"], "spec")


@pytest.mark.parametrize("case", BAD_SPECS, ids=lambda case: case.id)
def test_the_crd_alone_refuses_the_in_crd_cases(case: BadSpec) -> None:
    refusals = crd_refusals(case.document)
    if case.in_crd:
        assert any(r.startswith(f"{case.field}: ") for r in refusals), refusals or "the CRD accepts it"
    else:
        assert refusals == [], "the CRD refuses it: mark it in_crd"


# --- what Kubernetes accepts stays accepted ------------------------------------------------------------------

IMAGE = {"image": "registry.example/demo:1", "path": "predictor.py"}
GOOD = {
    "quantities": manifest(compute={"cpu": "0.5", "memory": "1.5Gi"}),
    "quantity-forms": manifest(compute={"cpu": ".5", "memory": "1e9"}),
    "quantity-int": manifest(compute={"cpu": 2, "memory": 1073741824}),
    "quantity-plus-micro": manifest(compute={"cpu": "+250000u", "memory": "512M"}),
    "amd-gpu": manifest(compute={"gpu": 1, "gpuResource": "amd.com/gpu"}),
    "mig-gpu": manifest(compute={"gpu": 1, "gpuResource": "nvidia.com/mig-1g.5gb"}),
    "node-selector": manifest(compute={"nodeSelector": {"kubernetes.io/arch": "amd64",
                                                        "node.kubernetes.io/instance-type": "g5.xlarge", "pool": ""}}),
    "tolerations": manifest(compute={"tolerations": [
        {"operator": "Exists"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "ml", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "spot", "operator": "Equal", "value": "", "effect": "PreferNoSchedule"}]}),
    "env": manifest(predictor={**IMAGE, "env": [
        {"name": "my.env-name", "value": "1"}, {"name": "_X"}, {"name": "HF_HOME", "value": "/tmp/hf"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf.tokens-v2", "key": "token_1.txt"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode", "optional": True}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/name']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m",
                                                           "containerName": "runtime"}}},
        {"name": "KB", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1k"}}},
        {"name": "PAGES", "valueFrom": {"resourceFieldRef": {"resource": "limits.hugepages-2Mi"}}}]}),
    "replicas-zero": manifest(replicas=0),
    "replicas-scaled": manifest(replicas=3),
    "replicas-with-autoscaler": manifest(replicas=2, autoscaling={"minReplicas": 1, "maxReplicas": 5}),
    "smallest-target": manifest(autoscaling={"maxReplicas": 4, "targetConcurrency": 0.001}),
    "int32-bounds": manifest(autoscaling={"minReplicas": 2**31 - 1, "maxReplicas": 2**31 - 1}),
    "surge-over-100-percent": manifest(updateStrategy={"maxSurge": "200%", "maxUnavailable": "100%"}),
    "unavailable-leading-zero": manifest(updateStrategy={"maxUnavailable": "050%"}),
    "wildcard-host": manifest(networking={"ingress": {"host": "*.example.com", "path": "/.well-known/v1",
                                                      "className": "nginx.public", "tls": {"secretName": "tls"}}}),
    "numeric-host": manifest(networking={"ingress": {"host": "999.1.1.1.example"}}),
    "auth": manifest(auth={"secretRef": {"name": "demo-key", "key": ".api_key"}}),
    "config-at-the-limit": manifest(predictor={**IMAGE, "config": {"blob": "x" * (65536 - 11)}}),
    "config-unicode": manifest(predictor={**IMAGE, "config": {"greeting": "grüß dich", "emoji": "🙂"}}),
    "models-dir": manifest(models={"dir": "s3://models/many/", "cacheSize": 2, "diskCacheSize": 2, "pollSeconds": 30,
                                   "secretRef": {"name": "models-credentials"}, "cache": {"claimName": "cache"}}),
    "models-paths": manifest(models={"paths": [{"name": "mpg-estimator", "uri": "s3://models/sklearn/mpg/"},
                                               {"name": "bert_base.v2", "uri": "hf://org/bert"},
                                               {"name": "local", "uri": "pvc://weights/models/local"}]}),
    "models-uri-gs": manifest(models={"uri": "gs://models_bucket/mpg/", "allowInsecureHttp": True}),
    "metadata": {**manifest(), "metadata": {"name": "demo", "namespace": "team-a", "labels": {
        "app.kubernetes.io/part-of": "shop"}, "annotations": {"Example.com/Owner": "ml team"}}},
}


@pytest.mark.parametrize("document", GOOD.values(), ids=GOOD.keys())
def test_what_kubernetes_accepts_passes(document) -> None:
    assert validate_document(document) == []
    assert crd_refusals(document) == []
