"""The strict emulator refuses what a real API server refuses, with its 422 `Status`, and accepts the rest.

Every case is sent over real HTTP; each refusal must be a 422 `Status` whose message reads
`<Kind>.<group> "<name>" is invalid: <field>: ...` and whose causes name the field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.emulator import RunningEmulator, emulator_running
from support.manifests import MINIMAL, example_documents, manifest
from support.strict import (
    CRD_DIR,
    QUANTITY_FORMAT_MSG,
    Admission,
    ServiceMonitorSchema,
    canonical_quantity,
)

from predictorapi.contracts.kinds import BY_KIND
from predictorapi.validation import parse_document
from predictorapi_operator.builders import BuildOptions, build_children

NAMESPACE = "strict"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
LABELS = {"app": "demo"}

FULL = manifest(
    predictor={"image": "registry.example/demo:1", "path": "predictor.py", "config": {"model": "m", "deep": {"a": [1]}},
               "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
                       {"name": "MODE", "value": "fast"}]},
    compute={"cpu": "2", "memory": "8Gi", "gpu": 1, "nodeSelector": {"pool": "gpu"},
             "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]},
    autoscaling={"minReplicas": 1, "maxReplicas": 4, "targetConcurrency": 2.5, "scaleDownStabilizationSeconds": 120},
    networking={"ingress": {"host": "demo.example.com", "path": "/demo", "className": "nginx",
                            "tls": {"secretName": "demo-tls"}}},
    monitoring={"serviceMonitor": True, "interval": "15s"},
    auth={"secretRef": {"name": "demo-key", "key": "key"}},
)
GIT = manifest(predictor={"source": {"git": {"repo": "https://git.example/m.git", "revision": "v1",
                                             "secretRef": {"name": "git"}}}, "path": "predictor.py"},
               updateStrategy={"mode": "NoSurge"}, autoscaling={"minReplicas": 2, "maxReplicas": 2})


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo", "labels": LABELS},
            "spec": {"replicas": 2, "selector": {"matchLabels": LABELS},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": LABELS}, "spec": {
                         "containers": [{"name": "main", "image": "registry.example/demo:1",
                                         "ports": [{"name": "http", "containerPort": 8080}],
                                         "env": [{"name": "MODE", "value": "fast"}],
                                         "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                       "limits": {"memory": "1Gi"}},
                                         "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                                         "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
                         "volumes": [{"name": "tmp", "emptyDir": {}}]}}}}


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "demo"},
            "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def hpa() -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "demo"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"},
                     "minReplicas": 1, "maxReplicas": 3,
                     "metrics": [{"type": "Pods", "pods": {"metric": {"name": "in_flight"}, "target": {
                         "type": "AverageValue", "averageValue": "2"}}}]}}


def pdb() -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "demo"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}}}


def ingress() -> dict[str, Any]:
    backend = {"service": {"name": "demo", "port": {"name": "http"}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "demo"},
            "spec": {"rules": [{"host": "demo.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend}]}}],
                     "tls": [{"hosts": ["demo.example.com"], "secretName": "demo-tls"}]}}


def pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo-1", "labels": LABELS},
            "spec": {"containers": [{"name": "main", "image": "registry.example/demo:1"}]}}


def service_monitor() -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "demo"},
            "spec": {"selector": {"matchLabels": LABELS}, "endpoints": [{"port": "http", "interval": "30s"}]}}


def papi() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def url(obj: dict[str, Any], name: str | None = None, subresource: str | None = None) -> str:
    kind = BY_KIND[obj["kind"]]
    parts = [kind.path_prefix, "namespaces", NAMESPACE, kind.plural, name, subresource]
    return "/".join(p for p in parts if p)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with emulator_running(tmp_path_factory.mktemp("strict")) as emulator:
        yield emulator


@pytest.fixture
def http(running: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.url, timeout=10) as session:
        yield session


_names = iter(range(10**6))


def unique(obj: dict[str, Any]) -> dict[str, Any]:
    """The object under a fresh name (the cases share one emulator)."""
    obj = copy.deepcopy(obj)
    base = obj["metadata"]["name"]
    if base == "demo" or base == "demo-1":
        obj["metadata"]["name"] = f"{base}-{next(_names)}"
    return obj


def assert_refused(answer: httpx.Response, obj: dict[str, Any], field: str, detail: str) -> dict[str, Any]:
    """A 422 `Status` naming `field`, whose message is the API server's `<Kind>.<group> "<name>" is invalid: ...`."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    kind = BY_KIND[obj["kind"]]
    qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    name = obj["metadata"]["name"]
    assert (body["kind"], body["apiVersion"], body["status"], body["reason"], body["code"]) == (
        "Status", "v1", "Failure", "Invalid", 422)
    assert body["message"].startswith(f'{qualified} "{name}" is invalid: '), body["message"]
    assert f"{field}: " in body["message"], body["message"]
    causes = [c for c in body["details"]["causes"] if c["field"] == field]
    assert causes, body["details"]["causes"]
    assert any(detail in c["message"] for c in causes), causes
    assert body["details"]["name"] == name and body["details"]["kind"] == kind.kind
    assert body["details"].get("group", "") == kind.group
    return body


def container(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][0]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted path (`[0]` for list items)."""
    def mutate(obj: dict[str, Any]) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
        target = obj
        for key in keys[:-1]:
            target = target[key] if isinstance(key, int) else target.setdefault(key, {})
        target[keys[-1]] = value
    return mutate


C = "spec.template.spec.containers[0]"
CONTAINER = "spec.template.spec.containers.0"
# (id, make the valid object, break it, the field named, a piece of the detail)
BUILTIN_CASES: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None], str, str]] = [
    ("quantity-syntax", deployment, _set(f"{CONTAINER}.resources.requests.cpu", "lots"),
     f"{C}.resources.requests[cpu]", QUANTITY_FORMAT_MSG),
    ("quantity-suffix", deployment, _set(f"{CONTAINER}.resources.requests.memory", "1K"),
     f"{C}.resources.requests[memory]", "unable to parse quantity's suffix"),
    ("quantity-negative", deployment, _set(f"{CONTAINER}.resources.limits.memory", "-1Gi"),
     f"{C}.resources.limits[memory]", "must be greater than or equal to 0"),
    ("request-above-limit", deployment, _set(f"{CONTAINER}.resources.requests.memory", "2Gi"),
     f"{C}.resources.requests[memory]", "must be less than or equal to memory limit of 1Gi"),
    ("extended-resource-without-limit", deployment, _set(f"{CONTAINER}.resources.requests.nvidia\x00com/gpu", "1"),
     f"{C}.resources.requests[nvidia.com/gpu]", "Limit must be set for non overcommitable resources"),
    ("resource-name", deployment, _set(f"{CONTAINER}.resources.limits.my gpu", "1"),
     f"{C}.resources.limits[my gpu]", "name part must consist of alphanumeric characters"),
    ("deployment-name", deployment, _set("metadata.name", "Demo_1"), "metadata.name",
     "a lowercase RFC 1123 subdomain must consist of"),
    ("label-key", deployment, _set("metadata.labels.bad key!", "x"), "metadata.labels",
     "name part must consist of alphanumeric characters"),
    ("label-key-prefix", deployment, _set("metadata.labels.Example\x00com/key", "x"), "metadata.labels",
     "prefix part a lowercase RFC 1123 subdomain"),
    ("label-key-length", deployment, _set("metadata.labels." + "k" * 64, "x"), "metadata.labels",
     "name part must be no more than 63 characters"),
    ("label-value", deployment, _set("metadata.labels.app", "x" * 64), "metadata.labels",
     "must be no more than 63 characters"),
    ("label-value-chars", deployment, _set("metadata.labels.tier", "-front"), "metadata.labels",
     "a valid label must be an empty string or consist of"),
    ("annotation-key", deployment, _set("metadata.annotations.-bad", "x"), "metadata.annotations",
     "name part must consist of alphanumeric characters"),
    ("annotations-size", deployment, _set("metadata.annotations.big", "x" * (256 * 1024 - 2)),
     "metadata.annotations", "Too long: must have at most 262144 bytes"),
    ("int32", deployment, _set("spec.replicas", 2**31), "spec.replicas", "int32"),
    ("integer-type", deployment, _set("spec.replicas", "three"), "spec.replicas", "must be of type integer"),
    ("unknown-field", deployment, _set(f"{CONTAINER}.imagePullPolcy", "Always"), f"{C}.imagePullPolcy",
     'unknown field "spec.template.spec.containers[0].imagePullPolcy"'),
    ("env-name", deployment, _set(f"{CONTAINER}.env.0.name", "A=B"), f"{C}.env[0].name",
     "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.'"),
    ("env-name-digit", deployment, _set(f"{CONTAINER}.env.0.name", "1ST"), f"{C}.env[0].name",
     "and must not start with a digit"),
    ("env-field-path", deployment, _set(f"{CONTAINER}.env.0", {"name": "L", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.labels"}}}), f"{C}.env[0].valueFrom.fieldRef.fieldPath",
     'Unsupported value: "metadata.labels"'),
    ("env-divisor", deployment, _set(f"{CONTAINER}.env.0", {"name": "CPU", "valueFrom": {
        "resourceFieldRef": {"resource": "limits.cpu", "divisor": "10m"}}}),
     f"{C}.env[0].valueFrom.resourceFieldRef.divisor", "only divisor's values 1m and 1 are supported"),
    ("env-value-and-value-from", deployment, _set(f"{CONTAINER}.env.0.valueFrom",
                                                   {"fieldRef": {"fieldPath": "metadata.name"}}),
     f"{C}.env[0].valueFrom", "may not be specified when `value` is not empty"),
    ("secret-key", deployment, _set(f"{CONTAINER}.env.0", {"name": "T", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "a key"}}}), f"{C}.env[0].valueFrom.secretKeyRef.key",
     "a valid config key must consist of"),
    ("container-port", deployment, _set(f"{CONTAINER}.ports.0.containerPort", 70000), f"{C}.ports[0].containerPort",
     "must be between 1 and 65535, inclusive"),
    ("port-name", deployment, _set(f"{CONTAINER}.ports.0.name", "http_port"), f"{C}.ports[0].name",
     "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
    ("container-name", deployment, _set(f"{CONTAINER}.name", "Main"), f"{C}.name",
     "a lowercase RFC 1123 label must consist of"),
    ("image-required", deployment, _set(f"{CONTAINER}.image", ""), f"{C}.image", "Required value"),
    ("mount-without-volume", deployment, _set(f"{CONTAINER}.volumeMounts.0.name", "cache"),
     f"{C}.volumeMounts[0].name", 'Not found: "cache"'),
    ("probe-handler", deployment, _set(f"{CONTAINER}.livenessProbe", {"periodSeconds": 5}), f"{C}.livenessProbe",
     "must specify a handler type"),
    ("probe-port", deployment, _set(f"{CONTAINER}.livenessProbe.httpGet.port", 0), f"{C}.livenessProbe.httpGet.port",
     "must be between 1 and 65535, inclusive"),
    ("toleration-exists-value", deployment, _set("spec.template.spec.tolerations", [
        {"key": "gpu", "operator": "Exists", "value": "yes"}]), "spec.template.spec.tolerations[0].operator",
     "value must be empty when `operator` is 'Exists'"),
    ("toleration-seconds", deployment, _set("spec.template.spec.tolerations", [
        {"key": "gpu", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]),
     "spec.template.spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds` is set"),
    ("node-selector", deployment, _set("spec.template.spec.nodeSelector", {"pool": "gpu nodes"}),
     "spec.template.spec.nodeSelector", "a valid label must be an empty string"),
    ("rollout-both-zero", deployment, _set("spec.strategy.rollingUpdate.maxSurge", "0%"),
     "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"),
    ("rollout-percent", deployment, _set("spec.strategy.rollingUpdate.maxUnavailable", "150%"),
     "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"),
    ("rollout-percent-syntax", deployment, _set("spec.strategy.rollingUpdate.maxSurge", "half"),
     "spec.strategy.rollingUpdate.maxSurge", "a valid percent string must be"),
    ("selector-matches-template", deployment, _set("spec.template.metadata.labels", {"app": "other"}),
     "spec.template.metadata.labels", "`selector` does not match template `labels`"),
    ("restart-policy", deployment, _set("spec.template.spec.restartPolicy", "Never"),
     "spec.template.spec.restartPolicy", 'Unsupported value: "Never"'),
    ("service-name", service, _set("metadata.name", "1demo"), "metadata.name", "a DNS-1035 label must consist of"),
    ("service-port", service, _set("spec.ports.0.port", 0), "spec.ports[0].port", "must be between 1 and 65535"),
    ("service-target-port", service, _set("spec.ports.0.targetPort", "Http"), "spec.ports[0].targetPort",
     "must contain only alpha-numeric characters"),
    ("service-ports-required", service, _set("spec.ports", []), "spec.ports", "Required value"),
    ("service-port-names", service, _set("spec.ports", [{"port": 80}, {"port": 81}]), "spec.ports[0].name",
     "Required value"),
    ("service-selector", service, _set("spec.selector", {"app": "a b"}), "spec.selector",
     "a valid label must be an empty string"),
    ("hpa-min", hpa, _set("spec.minReplicas", 0), "spec.minReplicas", "must be greater than or equal to 1"),
    ("hpa-max", hpa, _set("spec.maxReplicas", 0), "spec.maxReplicas", "must be greater than or equal to `minReplicas`"),
    ("hpa-target", hpa, _set("spec.metrics.0.pods.target.averageValue", "0m"),
     "spec.metrics[0].pods.target.averageValue", "must be positive"),
    ("hpa-target-quantity", hpa, _set("spec.metrics.0.pods.target.averageValue", "two"),
     "spec.metrics[0].pods.target.averageValue", QUANTITY_FORMAT_MSG),
    ("hpa-window", hpa, _set("spec.behavior", {"scaleDown": {"stabilizationWindowSeconds": 4000}}),
     "spec.behavior.scaleDown.stabilizationWindowSeconds", "must be less than or equal to 3600"),
    ("pdb-both", pdb, _set("spec.minAvailable", 1), "spec", "minAvailable and maxUnavailable cannot be both set"),
    ("pdb-percent", pdb, _set("spec.maxUnavailable", "120%"), "spec.maxUnavailable", "must not be greater than 100%"),
    ("ingress-ip-host", ingress, _set("spec.rules.0.host", "10.0.0.1"), "spec.rules[0].host",
     "must be a DNS name, not an IP address"),
    ("ingress-host", ingress, _set("spec.rules.0.host", "Demo_Host.example.com"), "spec.rules[0].host",
     "a lowercase RFC 1123 subdomain must consist of"),
    ("ingress-relative-path", ingress, _set("spec.rules.0.http.paths.0.path", "demo"),
     "spec.rules[0].http.paths[0].path", "must be an absolute path"),
    ("ingress-path-sequence", ingress, _set("spec.rules.0.http.paths.0.path", "/a//b"),
     "spec.rules[0].http.paths[0].path", "must not contain '//'"),
    ("ingress-path-type", ingress, _set("spec.rules.0.http.paths.0.pathType", None),
     "spec.rules[0].http.paths[0].pathType", "pathType must be specified"),
    ("ingress-tls-secret", ingress, _set("spec.tls.0.secretName", "Demo_TLS"), "spec.tls[0].secretName",
     "a lowercase RFC 1123 subdomain must consist of"),
    ("ingress-rules", ingress, _set("spec.rules", []), "spec", "either `defaultBackend` or `rules` must be specified"),
    ("ingress-backend-port", ingress, _set("spec.rules.0.http.paths.0.backend.service.port", {}),
     "spec.rules[0].http.paths[0].backend.service.port", "port name or number is required"),
    ("pod-container-name", pod, _set("spec.containers.0.name", "Main"), "spec.containers[0].name",
     "a lowercase RFC 1123 label must consist of"),
    ("pod-unknown-field", pod, _set("spec.containerz", []), "spec.containerz", 'unknown field "spec.containerz"'),
]


def _fix_keys(obj: Any) -> Any:
    """`\\x00` in a case's path stands for a dot inside a key (`nvidia.com/gpu`)."""
    if isinstance(obj, dict):
        return {k.replace("\x00", "."): _fix_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fix_keys(v) for v in obj]
    return obj


@pytest.mark.parametrize(("make", "breakage", "field", "detail"),
                         [case[1:] for case in BUILTIN_CASES], ids=[case[0] for case in BUILTIN_CASES])
def test_built_in_objects_are_refused_naming_the_field(http, make, breakage, field, detail) -> None:
    good = unique(make())
    assert http.post(url(good), json=good).status_code == 201, "the valid object is accepted"
    bad = unique(make())
    breakage(bad)
    bad = _fix_keys(bad)
    assert_refused(http.post(url(bad), json=bad), bad, field, detail)
    assert http.get(url(bad, bad["metadata"]["name"])).status_code == 404, "nothing was stored"


def test_the_message_is_the_api_servers_word_for_word(http) -> None:
    bad = deployment()
    container(bad)["resources"]["requests"]["cpu"] = "lots"
    body = http.post(url(bad), json=bad).json()
    field = "spec.template.spec.containers[0].resources.requests[cpu]"
    detail = ("Invalid value: \"lots\": quantities must match the regular expression "
              "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f'Deployment.apps "demo" is invalid: {field}: {detail}', "reason": "Invalid",
                    "details": {"name": "demo", "group": "apps", "kind": "Deployment",
                                "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}]},
                    "code": 422}


def test_several_errors_are_listed_like_an_aggregate(http) -> None:
    bad = unique(service())
    bad["spec"]["ports"][0]["port"] = 0
    bad["spec"]["selector"] = {"app": "a b"}
    body = http.post(url(bad), json=bad).json()
    assert body["message"].startswith(f'Service "{bad["metadata"]["name"]}" is invalid: [')
    assert {c["field"] for c in body["details"]["causes"]} == {"spec.ports[0].port", "spec.selector"}
    assert "group" not in body["details"], "the core group is left out"


def test_annotations_up_to_the_limit_are_accepted(http) -> None:
    good = unique(deployment())
    key = "big"
    good["metadata"]["annotations"] = {key: "x" * (256 * 1024 - len(key))}  # exactly 262144 bytes
    assert http.post(url(good), json=good).status_code == 201


def test_a_patch_is_checked_merged_and_a_refused_one_changes_nothing(http) -> None:
    good = unique(deployment())
    name = good["metadata"]["name"]
    before = http.post(url(good), json=good).json()
    broken = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": ""}]}}}}
    assert_refused(http.patch(url(good, name), json=broken, headers=MERGE), good, f"{C}.image", "Required value")
    json_patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "x"}]
    assert_refused(http.patch(url(good, name), json=json_patch, headers=JSON_PATCH), good,
                   f"{C}.resources.requests[cpu]", QUANTITY_FORMAT_MSG)
    stored = http.get(url(good, name)).json()
    assert container(stored)["image"] == "registry.example/demo:1"
    assert stored["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "nothing was written"
    fine = http.patch(url(good, name), json={"spec": {"replicas": 5}}, headers=MERGE)
    assert fine.status_code == 200 and fine.json()["spec"]["replicas"] == 5
    assert fine.json()["metadata"]["generation"] == 2


def test_a_put_is_checked_and_replaces(http) -> None:
    good = unique(deployment())
    name = good["metadata"]["name"]
    created = http.post(url(good), json=good).json()
    replaced = copy.deepcopy(created)
    del replaced["spec"]["strategy"]
    answer = http.put(url(good, name), json=replaced)
    assert answer.status_code == 200 and "strategy" not in answer.json()["spec"], "PUT replaces, it does not merge"
    assert answer.json()["metadata"]["uid"] == created["metadata"]["uid"]
    replaced = answer.json()
    container(replaced)["ports"][0]["containerPort"] = 0
    assert_refused(http.put(url(good, name), json=replaced), good, f"{C}.ports[0].containerPort",
                   "must be between 1 and 65535")


def test_the_deployment_selector_is_immutable(http) -> None:
    good = unique(deployment())
    name = good["metadata"]["name"]
    assert http.post(url(good), json=good).status_code == 201
    change = {"spec": {"selector": {"matchLabels": {"app": "demo", "tier": "web"}},
                       "template": {"metadata": {"labels": {"app": "demo", "tier": "web"}}}}}
    body = assert_refused(http.patch(url(good, name), json=change, headers=MERGE), good, "spec.selector",
                          "field is immutable")
    assert 'v1.LabelSelector{MatchLabels:map[string]string{"app":"demo", "tier":"web"}' in body["message"] or \
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"demo","tier":"web"}' in body["message"]
    labels_only = {"metadata": {"labels": {"app": "demo", "tier": "web"}}}
    assert http.patch(url(good, name), json=labels_only, headers=MERGE).status_code == 200


def test_the_status_subresource_is_checked_too(http) -> None:
    good = unique(deployment())
    name = good["metadata"]["name"]
    http.post(url(good), json=good)
    answer = http.patch(url(good, name, "status"), json={"status": {"replicas": "two"}}, headers=MERGE)
    assert_refused(answer, good, "status.replicas", "must be of type integer")
    answer = http.patch(url(good, name, "status"), json={"status": {"replicas": 2}, "spec": {"replicas": 9}},
                        headers=MERGE)
    assert answer.status_code == 200 and answer.json()["spec"]["replicas"] == 2, "only the status changes"


@pytest.mark.parametrize(("given", "stored"), [
    ("1.5", "1500m"), ("0.5Gi", "512Mi"), ("1000m", "1"), ("2048Mi", "2Gi"), (2, "2"), (0.25, "250m"),
    ("1000", "1k"), ("1.5Ki", "1536"), ("100Mi", "100Mi"), ("0.1", "100m"), ("1e3", "1e3"), ("0", "0"),
])
def test_quantities_are_stored_canonical(http, given, stored) -> None:
    assert canonical_quantity(given) == stored
    good = unique(deployment())
    name = good["metadata"]["name"]
    container(good)["resources"] = {"requests": {"cpu": given}}
    created = http.post(url(good), json=good).json()
    assert container(created)["resources"]["requests"]["cpu"] == stored
    assert container(http.get(url(good, name)).json())["resources"]["requests"]["cpu"] == stored
    patched = http.patch(url(good, name), headers=MERGE, json={"spec": {"template": {"spec": {"containers": [
        {**container(good), "resources": {"requests": {"cpu": given, "memory": "0.5Gi"}}}]}}}}).json()
    assert container(patched)["resources"]["requests"] == {"cpu": stored, "memory": "512Mi"}


def test_other_quantities_are_canonical_too(http) -> None:
    good = unique(hpa())
    good["spec"]["metrics"][0]["pods"]["target"]["averageValue"] = "1.5"
    created = http.post(url(good), json=good).json()
    assert created["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "1500m"


def test_service_monitors_are_checked_with_the_prometheus_operator_schema(http) -> None:
    if not ServiceMonitorSchema.available():
        pytest.skip("the Prometheus Operator schema is not installed (scripts/setup.sh, tests/support/node)")
    good = unique(service_monitor())
    assert http.post(url(good), json=good).status_code == 201
    bad = unique(service_monitor())
    bad["spec"]["endpoints"][0]["interval"] = "often"
    assert_refused(http.post(url(bad), json=bad), bad, "spec.endpoints[0].interval", "must match pattern")
    bad = unique(service_monitor())
    bad["metadata"]["name"] = "Demo"
    assert_refused(http.post(url(bad), json=bad), bad, "metadata.name", "RFC 1123 subdomain")


# --- the operator's own children ---------------------------------------------------------------------------------

EXAMPLES = [(f"{path.parent.name}-{doc['metadata']['name']}", doc) for path, doc in example_documents()] + [
    ("minimal", MINIMAL), ("full", FULL), ("git", GIT)]


@pytest.mark.parametrize(("index", "document"), list(enumerate(doc for _, doc in EXAMPLES)),
                         ids=[name for name, _ in EXAMPLES])
def test_the_operators_children_of_the_examples_are_accepted(http, index, document) -> None:
    document = copy.deepcopy(document)
    document["metadata"] = {**document["metadata"], "name": f"example-{index}", "namespace": NAMESPACE}
    children = build_children(parse_document(document), BuildOptions(runtime_image="registry.example/runtime:1"))
    answer = http.post(url(document), json=document)
    assert answer.status_code == 201, answer.text
    for child in children:
        answer = http.post(url(child), json=child)
        assert answer.status_code == 201, f"{child['kind']}: {answer.text}"
        # and re-applying them (a merge patch of the same object) is accepted
        name = child["metadata"]["name"]
        again = http.patch(url(child, name), json=child, headers=MERGE)
        assert again.status_code == 200, f"{child['kind']}: {again.text}"


# --- the CRD's rules on PredictorAPIs ----------------------------------------------------------------------------

CRD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("min-above-max", {"autoscaling": {"minReplicas": 3, "maxReplicas": 1}}, "spec.autoscaling",
     'Invalid value: "object": autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas'),
    ("minimum", {"maxConcurrency": 0}, "spec.maxConcurrency",
     "spec.maxConcurrency in body should be greater than or equal to 1"),
    ("maximum", {"batching": {"maxBatchSize": 5000}}, "spec.batching.maxBatchSize",
     "spec.batching.maxBatchSize in body should be less than or equal to 4096"),
    ("exclusive-minimum", {"requestTimeoutSeconds": 0}, "spec.requestTimeoutSeconds",
     "spec.requestTimeoutSeconds in body should be greater than 0"),
    ("unknown-field", {"replicaCount": 3}, "spec.replicaCount", 'unknown field "spec.replicaCount"'),
    ("type", {"compute": {"gpu": "many"}}, "spec.compute.gpu", "spec.compute.gpu in body must be of type integer"),
    ("int-or-string", {"compute": {"cpu": [1]}}, "spec.compute.cpu", "must be of type integer-or-string"),
    ("enum", {"autoscaling": {"metric": "qps"}}, "spec.autoscaling.metric",
     'Unsupported value: "qps": supported values: "concurrency", "cpu"'),
    ("pattern", {"monitoring": {"interval": "often"}}, "spec.monitoring.interval",
     "spec.monitoring.interval in body should match '^[0-9]+(ms|s|m|h)$'"),
    ("max-length", {"compute": {"memory": "1" * 17}}, "spec.compute.memory", "Too long"),
    ("required", {"predictor": {"image": "registry.example/x:1"}}, "spec.predictor.path", "Required value"),
    ("cel-exactly-one", {"predictor": {"path": "p.py"}}, "spec.predictor",
     "exactly one of predictor.image and predictor.source must be set"),
    ("cel-env", {"predictor": {"image": "i", "path": "p.py", "env": [
        {"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}},
     "spec.predictor.env[0]", "env[].value and env[].valueFrom are mutually exclusive"),
    ("cel-int-or-percent", {"updateStrategy": {"maxSurge": "lots"}}, "spec.updateStrategy.maxSurge",
     "updateStrategy.maxSurge must be an int or a percent"),
    ("cel-both-zero", {"updateStrategy": {"maxSurge": 0, "maxUnavailable": "0%"}}, "spec.updateStrategy",
     "updateStrategy.maxSurge and updateStrategy.maxUnavailable cannot both be 0"),
    ("nested-unknown", {"networking": {"ingress": {"host": "a.example", "port": 80}}},
     "spec.networking.ingress.port", 'unknown field "spec.networking.ingress.port"'),
]


@pytest.mark.parametrize(("spec", "field", "detail"), [case[1:] for case in CRD_CASES],
                         ids=[case[0] for case in CRD_CASES])
def test_the_crds_rules_refuse_predictorapis_naming_the_field(http, spec, field, detail) -> None:
    bad = manifest(**spec)
    bad["metadata"] = {"name": f"bad-{next(_names)}"}
    assert_refused(http.post(url(bad), json=bad), bad, field, detail)


def test_a_predictorapi_is_stored_defaulted_and_its_free_form_config_kept(http) -> None:
    good = manifest(predictor={"image": "registry.example/x:1", "path": "p.py",
                               "config": {"anything": {"goes": [1, {"x": 1.5}]}}})
    good["metadata"] = {"name": "defaulted"}
    created = http.post(url(good), json=good)
    assert created.status_code == 201, created.text
    spec = created.json()["spec"]
    assert spec["predictor"]["config"] == {"anything": {"goes": [1, {"x": 1.5}]}}
    assert spec["predictor"]["className"] == "PythonPredictor"
    # No CPU default: left unset, the operator requests one core per process (`processesPerReplica`).
    assert "cpu" not in spec["compute"] and spec["compute"]["memory"] == "2Gi"
    assert spec["processesPerReplica"] == 1
    assert spec["autoscaling"] == {"minReplicas": 1, "maxReplicas": 1, "metric": "concurrency",
                                   "targetConcurrency": 1.0, "targetCPUUtilization": 80,
                                   "scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300,
                                   "idleSeconds": 300}
    assert spec["updateStrategy"] == {"mode": "Surge", "maxSurge": "25%", "maxUnavailable": 0}


def test_the_crds_rules_apply_to_the_merged_result_of_an_update(http) -> None:
    good = papi()
    good["metadata"] = {"name": "merged"}
    assert http.post(url(good), json=good).status_code == 201
    answer = http.patch(url(good, "merged"), json={"spec": {"autoscaling": {"minReplicas": 5}}}, headers=MERGE)
    assert_refused(answer, good, "spec.autoscaling", "autoscaling.minReplicas must be less than or equal to")
    assert http.get(url(good, "merged")).json()["spec"]["autoscaling"]["minReplicas"] == 1
    answer = http.patch(url(good, "merged"), json={"spec": {"autoscaling": {"minReplicas": 5, "maxReplicas": 5}}},
                        headers=MERGE)
    assert answer.status_code == 200 and answer.json()["metadata"]["generation"] == 2
    finalizer = {"metadata": {"finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]}}
    answer = http.patch(url(good, "merged"), json=finalizer, headers=MERGE)
    assert answer.status_code == 200 and answer.json()["metadata"]["generation"] == 2, "metadata: no new generation"


def test_predictorapi_names_and_status_are_checked(http) -> None:
    bad = papi()
    bad["metadata"] = {"name": "Bad_Name"}
    assert_refused(http.post(url(bad), json=bad), bad, "metadata.name", "RFC 1123 subdomain")
    good = papi()
    good["metadata"] = {"name": "with-status"}
    http.post(url(good), json=good)
    conditions = [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}]
    answer = http.patch(url(good, "with-status", "status"), json={"status": {"conditions": conditions}},
                        headers=MERGE)
    assert_refused(answer, good, "status.conditions[1]", "Duplicate value")
    answer = http.patch(url(good, "with-status", "status"), json={"status": {"phase": "Ready", "bogus": 1}},
                        headers=MERGE)
    assert_refused(answer, good, "status.bogus", 'unknown field "status.bogus"')
    answer = http.patch(url(good, "with-status", "status"), json={"status": {"phase": "Ready", "conditions": [
        {"type": "Ready", "status": "True", "reason": "AsExpected"}]}}, headers=MERGE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"]["conditions"][0]["message"] == "", "defaults apply in status too"


def test_the_rules_are_read_from_the_crd_file_at_start(tmp_path: Path) -> None:
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    crd = yaml.safe_load((CRD_DIR / "predictorapi.yaml").read_text())
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema.setdefault("x-kubernetes-validations", []).append(
        {"rule": "self.maxConcurrency != 7", "message": "seven is right out", "fieldPath": ".maxConcurrency"})
    (crd_dir / "predictorapi.yaml").write_text(yaml.safe_dump(crd))
    with emulator_running(tmp_path, crd_dir=crd_dir, monitoring=False) as running, httpx.Client(
            base_url=running.url) as http:
        bad = manifest(maxConcurrency=7)
        bad["metadata"] = {"name": "seven"}
        assert_refused(http.post(url(bad), json=bad), bad, "spec.maxConcurrency", "seven is right out")
        good = manifest(maxConcurrency=8)
        good["metadata"] = {"name": "eight"}
        assert http.post(url(good), json=good).status_code == 201
    assert Admission().validate({**bad, "metadata": {"name": "seven", "namespace": "x"}}) == [], \
        "the shipped CRD has no such rule"


def test_lenient_stores_invalid_objects_and_ratcheting_lets_them_be_updated(running, http) -> None:
    bad = manifest(maxConcurrency=0)
    bad["metadata"] = {"name": "stored-before"}
    with running.emulator.lenient("predictorapis"):
        assert http.post(url(bad), json=bad).status_code == 201
    assert http.post(url({**bad, "metadata": {"name": "after"}}), json={**bad, "metadata": {"name": "after"}}
                     ).status_code == 422, "strict again outside"
    # An unchanged invalid value does not block other changes (CRD validation ratcheting) ...
    finalizer = {"metadata": {"finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]}}
    assert http.patch(url(bad, "stored-before"), json=finalizer, headers=MERGE).status_code == 200
    status = {"status": {"phase": "Degraded"}}
    assert http.patch(url(bad, "stored-before", "status"), json=status, headers=MERGE).status_code == 200
    # ... but a changed one is checked.
    answer = http.patch(url(bad, "stored-before"), json={"spec": {"maxConcurrency": -1}}, headers=MERGE)
    assert_refused(answer, bad, "spec.maxConcurrency", "should be greater than or equal to 1")


def test_a_non_strict_emulator_stores_anything(tmp_path: Path) -> None:
    with emulator_running(tmp_path, strict=False, monitoring=False) as running, httpx.Client(
            base_url=running.url) as http:
        bad = manifest(maxConcurrency=0)
        bad["metadata"] = {"name": "anything"}
        assert http.post(url(bad), json=bad).status_code == 201
        assert running.emulator.admission is None


def test_admission_accepts_a_full_spec_and_its_children_on_create_and_update() -> None:
    """Its speed (about 2 ms a write here) is not asserted: a test must not fail on a busy machine."""
    admission = Admission(service_monitors=False)
    document = copy.deepcopy(FULL)
    document["metadata"]["namespace"] = NAMESPACE
    objects = [document, *build_children(parse_document(document), BuildOptions(service_monitor_available=False))]
    for obj in objects:
        assert admission.validate(obj) == [], obj["kind"]
        assert admission.validate(obj, old=obj) == [], obj["kind"]


def test_the_case_table_covers_every_built_in_kind() -> None:
    kinds = {make()["kind"] for _, make, *_ in BUILTIN_CASES}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "Pod"}
    assert len({case[0] for case in BUILTIN_CASES}) == len(BUILTIN_CASES)
