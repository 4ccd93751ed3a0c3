"""Any spec `predictorapi validate` accepts is accepted by the API server (the strict emulator's CRD admission) and
renders children the API server accepts: generated over the spec's fields, checked with the emulator's own
admission code (what every write to it goes through)."""

from __future__ import annotations

import copy
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import keda
from support.manifests import manifest
from support.strict import Admission

from predictorapi.validation import parse_document, validate_document
from predictorapi_operator.builders import BuildOptions, build_children

PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "
LABELISH = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?\Z")
DNS = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?){0,2}\Z")
SOME_TEXT = st.text(PRINTABLE, min_size=1, max_size=12)


def mostly(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually `valid`, sometimes `edge` (so that most generated specs pass `predictorapi validate`)."""
    return st.sampled_from([False] * 7 + [True]).flatmap(lambda at_edge: edge if at_edge else valid)


@pytest.fixture(scope="module")
def admission() -> Iterator[Admission]:
    checker = Admission()
    yield checker
    checker.close()


@pytest.fixture(scope="module")
def keda_schema() -> Iterator[keda.KedaSchema]:
    """ScaledObjects (scale to zero): KEDA's published schema, with its webhook's checks (`keda.admit`)."""
    if not keda.available():
        pytest.fail("KEDA's schema is missing: run `npm install` in tests/support/node")
    checker = keda.KedaSchema()
    yield checker
    checker.close()


def quantities(binary: bool) -> st.SearchStrategy[Any]:
    suffixes = ["", "m", "k", "M", "G", "e3", "E"] + (["Ki", "Mi", "Gi", "Ti"] if binary else [])
    number = st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,3})?\Z")
    return mostly(st.one_of(
        st.integers(0, 64),
        st.builds(lambda n, s: n + s, number, st.sampled_from(suffixes)),
        st.sampled_from(["0", "1", "500m", "0.5", "1.5Gi", "2048Mi", "1e3", "100Mi", "0.001", ".5", "1."]),
    ), SOME_TEXT)


def int_or_percent() -> st.SearchStrategy[Any]:
    return mostly(st.one_of(st.integers(0, 10), st.builds(lambda n: f"{n}%", st.integers(0, 100)),
                            st.sampled_from(["00%", "0%", "100%", "050%", "25%"])), SOME_TEXT)


ENV_NAMES = mostly(st.one_of(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,15}\Z"),
                             st.sampled_from(["HOME", "PATH", "HF_HOME", "MODE", "-x", ".x"])),
                   st.one_of(SOME_TEXT, st.just("PREDICTORAPI_LOG_JSON")))
ENV = st.lists(st.fixed_dictionaries({"name": ENV_NAMES}, optional={"value": st.text(max_size=20)}), max_size=3)
KEYS = st.one_of(LABELISH, st.sampled_from(["nvidia.com/gpu", "dedicated", "example.com/pool"]))
VALID_TOLERATION = st.one_of(
    st.fixed_dictionaries({"key": KEYS, "operator": st.just("Exists")},
                          optional={"effect": st.sampled_from(["NoSchedule", "PreferNoSchedule"])}),
    st.fixed_dictionaries({"key": KEYS, "value": LABELISH},
                          optional={"operator": st.just("Equal"), "effect": st.sampled_from(["NoSchedule"])}),
    st.fixed_dictionaries({"key": KEYS, "operator": st.just("Exists"), "effect": st.just("NoExecute")},
                          optional={"tolerationSeconds": st.integers(0, 10**6)}),
    st.just({"operator": "Exists"}),
)
ANY_TOLERATION = st.fixed_dictionaries({}, optional={
    "key": st.one_of(KEYS, SOME_TEXT), "operator": st.sampled_from(["Exists", "Equal"]),
    "value": st.one_of(LABELISH, SOME_TEXT), "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
    "tolerationSeconds": st.integers(-5, 10**6)})
TOLERATIONS = st.lists(mostly(VALID_TOLERATION, ANY_TOLERATION), max_size=2)
NODE_SELECTOR = st.dictionaries(mostly(st.one_of(LABELISH, st.sampled_from(["pool", "example.com/pool"])), SOME_TEXT),
                                mostly(LABELISH, SOME_TEXT), max_size=2)
HOSTS = mostly(st.one_of(DNS, st.sampled_from(["api.example.com", "*.example.com", "localhost"])),
               st.one_of(st.text(string.ascii_lowercase + string.digits + ".-*", min_size=1, max_size=20), SOME_TEXT,
                         st.just("10.0.0.1")))
PATHS = st.one_of(st.sampled_from(["/", "/api", "/v1/predict", "/a/"]),
                  st.builds(lambda p: "/" + p, st.text(string.ascii_letters + string.digits + "/._-%~", max_size=15)))
SECRET_NAMES = mostly(DNS, SOME_TEXT)


MODEL_URIS = st.sampled_from(["s3://models/many/", "gs://models_b/m/", "pvc://weights/models", "pvc://w.2/a/b",
                               "hf://org/name"])
MODEL_PATH = st.fixed_dictionaries({"name": st.from_regex(r"\A[a-z0-9]([-a-z0-9_.]{0,8}[a-z0-9])?\Z"),
                                    "uri": MODEL_URIS})
MODELS = st.fixed_dictionaries(
    {"paths": st.lists(MODEL_PATH, min_size=1, max_size=3, unique_by=lambda p: p["name"])},
    optional={"cacheSize": st.integers(1, 5), "pollSeconds": st.integers(1, 86400),
              "secretRef": st.fixed_dictionaries({"name": SECRET_NAMES}),
              "cache": st.fixed_dictionaries({"claimName": mostly(DNS, SOME_TEXT)})})


@st.composite
def specs(draw) -> dict[str, Any]:
    """A spec over every field the builders read (mostly valid values, with the edges in between)."""
    low = draw(st.integers(0, 5))
    predictor: dict[str, Any] = {"path": "predictor.py", "env": draw(ENV)}
    if draw(st.booleans()):
        predictor["image"] = draw(st.sampled_from(["registry.example/demo:1", "demo", "r.example:5000/a/b@sha256:"
                                                   + "a" * 64]))
    else:
        git: dict[str, Any] = {"repo": "https://git.example/m.git", "revision": draw(st.sampled_from(["main", "v1"]))}
        if draw(st.booleans()):
            git["secretRef"] = {"name": draw(SECRET_NAMES)}
        predictor["source"] = {"git": git}
    if draw(st.booleans()):
        predictor["config"] = draw(st.dictionaries(st.sampled_from(["model", "beam", "x"]),
                                                   st.one_of(st.integers(), st.text(max_size=10)), max_size=2))
    compute: dict[str, Any] = {}
    for key, binary in (("cpu", False), ("memory", True)):
        if draw(st.booleans()):
            compute[key] = draw(quantities(binary))
    if draw(st.booleans()):
        compute["gpu"] = draw(st.integers(0, 4))
        compute["gpuResource"] = draw(st.sampled_from(["nvidia.com/gpu", "amd.com/gpu", "example.com/gpu-a100"]))
    if draw(st.booleans()):
        compute["nodeSelector"] = draw(NODE_SELECTOR)
    if draw(st.booleans()):
        compute["tolerations"] = draw(TOLERATIONS)
    spec: dict[str, Any] = {
        "predictor": predictor,
        "compute": compute,
        "autoscaling": {
            "minReplicas": low, "maxReplicas": draw(st.integers(low, 10)),
            "metric": draw(st.sampled_from(["concurrency", "cpu"])),
            "targetConcurrency": draw(st.one_of(st.floats(0.001, 1000, allow_nan=False), st.integers(1, 64),
                                                st.sampled_from([0.001, 0.0015, 0.0004, 0.5, 2.5, 1e-3 + 1e-9]))),
            "targetCPUUtilization": draw(st.integers(1, 100)),
            "scaleUpStabilizationSeconds": draw(st.integers(0, 3600)),
            "scaleDownStabilizationSeconds": draw(st.integers(0, 3600)),
            "idleSeconds": draw(st.integers(30, 86400)),
        },
        "maxConcurrency": draw(st.integers(1, 10000)),
        "maxQueueLength": draw(st.integers(0, 100000)),
        "requestTimeoutSeconds": draw(st.one_of(st.floats(0.001, 3600, allow_nan=False), st.integers(1, 3600))),
        "startupTimeoutSeconds": draw(st.integers(10, 86400)),
        "updateStrategy": {"mode": draw(st.sampled_from(["Surge", "NoSurge"])), "maxSurge": draw(int_or_percent()),
                           "maxUnavailable": draw(int_or_percent())},
        "batching": {"maxBatchSize": draw(st.integers(1, 4096)),
                     "batchTimeoutMilliseconds": draw(st.integers(0, 60000))},
        "monitoring": {"serviceMonitor": draw(st.booleans()),
                       "interval": draw(st.from_regex(r"\A[0-9]{1,4}(ms|s|m|h)\Z"))},
    }
    if draw(st.booleans()):
        ingress: dict[str, Any] = {"host": draw(HOSTS), "path": draw(PATHS)}
        if draw(st.booleans()):
            ingress["className"] = draw(mostly(DNS, SOME_TEXT))
        if draw(st.booleans()):
            ingress["tls"] = {"secretName": draw(SECRET_NAMES)}
        spec["networking"] = {"ingress": ingress}
    if draw(st.booleans()):
        spec["models"] = draw(MODELS)
    if draw(st.booleans()):
        spec["auth"] = {"secretRef": {"name": draw(SECRET_NAMES),
                                      "key": draw(mostly(st.one_of(st.just("api-key"), LABELISH), SOME_TEXT))}}
    return spec


def problems_of(admission: Admission, keda_schema: keda.KedaSchema, document: dict[str, Any]) -> list[str]:
    """What the API server would refuse: the PredictorAPI itself, then each child the operator renders."""
    found = [f"PredictorAPI: {e}" for e in admission.validate(document)]
    api = parse_document(document)
    for child in build_children(api, BuildOptions(runtime_image="registry.example/runtime:1")):
        if child["kind"] == "ScaledObject":
            errors = keda.admit(keda_schema, "scaledobjects", copy.deepcopy(child), None)
        else:
            errors = admission.validate(copy.deepcopy(child))
        found += [f"{child['kind']}: {e}" for e in errors]
    return found


def edge(**spec: Any) -> dict[str, Any]:
    """An explicit example: the minimal spec with `spec` keys replaced."""
    return {"predictor": {"image": "registry.example/demo:1", "path": "predictor.py"}, **spec}


# Edges worth checking on every run (the random ones may miss them): rollout parameters that are zero in
# another spelling, a tiny concurrency target, quantities the API server rewrites, wildcard hosts.
EDGES = [
    edge(updateStrategy={"mode": "Surge", "maxSurge": "00%", "maxUnavailable": 0}),
    edge(updateStrategy={"mode": "NoSurge", "maxUnavailable": "00%"}),
    edge(updateStrategy={"mode": "Surge", "maxSurge": 0, "maxUnavailable": "100%"}),
    edge(autoscaling={"minReplicas": 1, "maxReplicas": 3, "targetConcurrency": 0.0015}),
    edge(autoscaling={"minReplicas": 0, "maxReplicas": 1, "targetConcurrency": 0.0015, "metric": "cpu"}),
    edge(compute={"cpu": "1.5", "memory": "0.5Gi", "gpu": 1}),
    edge(compute={"cpu": 0, "memory": "1e3"}),
    edge(networking={"ingress": {"host": "*.example.com", "path": "/a/", "tls": {"secretName": "tls"}}}),
    edge(predictor={"image": "registry.example/demo:1", "path": "predictor.py",
                    "env": [{"name": "-x.y_Z"}, {"name": "HOME", "value": "/home"}]}),
    # spec.models: the model-store sidecar, the disk tier (emptyDir or a claim's folder), pvc:// claims mounted
    edge(models={"dir": "s3://models/many/", "cacheSize": 3, "diskCacheSize": 3, "pollSeconds": 30,
                 "secretRef": {"name": "models-credentials"}, "cache": {"claimName": "model-cache"}},
         monitoring={"serviceMonitor": True, "interval": "30s"}),
    edge(models={"paths": [{"name": "a", "uri": "pvc://weights/a"}, {"name": "b.v2", "uri": "pvc://weights.2/b"},
                           {"name": "c_1", "uri": "pvc://weights/c"}]}, processesPerReplica=2),
    edge(models={"uri": "hf://org/name"}, autoscaling={"minReplicas": 0, "maxReplicas": 2},
         monitoring={"serviceMonitor": True, "interval": "30s"}),
]


def _with_edges(test: Any) -> Any:
    for spec in reversed(EDGES):
        test = example(spec=spec)(test)
    return test


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@_with_edges
@given(spec=specs())
def test_a_spec_validate_accepts_renders_children_the_api_server_accepts(admission, keda_schema, spec) -> None:
    document = manifest(**spec)
    document["metadata"] = {"name": "generated", "namespace": "generated"}
    if validate_document(document):
        return  # `predictorapi validate` refuses it: nothing to render
    problems = problems_of(admission, keda_schema, document)
    assert not problems, "a spec `predictorapi validate` accepts is refused:\n" + "\n".join(problems)
