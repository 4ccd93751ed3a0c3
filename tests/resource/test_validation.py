"""Bad manifests are refused with a message naming the field: schema checks and CEL rules."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from support.manifests import MINIMAL, manifest
from support.processes import CLI

from predictorapi.validation import validate_document

GIT = {"git": {"repo": "https://git.example/models.git", "revision": "v1"}}

# (id, document, field, words the message must contain)
BAD = [
    ("min-over-max", manifest(autoscaling={"minReplicas": 3, "maxReplicas": 2}),
     "spec.autoscaling", "minReplicas must be less than or equal to autoscaling.maxReplicas"),
    ("image-and-source", manifest(predictor={"image": "x", "source": GIT, "path": "p.py"}),
     "spec.predictor", "exactly one of predictor.image and predictor.source"),
    ("neither-image-nor-source", manifest(predictor={"path": "p.py"}),
     "spec.predictor", "exactly one of predictor.image and predictor.source"),
    ("no-path", manifest(predictor={"image": "x"}), "spec.predictor.path", "required"),
    ("surge-word", manifest(updateStrategy={"maxSurge": "lots"}),
     "spec.updateStrategy.maxSurge", "must be an int or a percent"),
    ("unavailable-negative", manifest(updateStrategy={"maxUnavailable": -1}),
     "spec.updateStrategy.maxUnavailable", "must be an int or a percent"),
    ("both-zero", manifest(updateStrategy={"maxSurge": 0, "maxUnavailable": "0%"}),
     "spec.updateStrategy", "cannot both be 0"),
    ("metric-enum", manifest(autoscaling={"metric": "qps"}), "spec.autoscaling.metric", "concurrency, cpu"),
    ("gpu-type", manifest(compute={"gpu": "two"}), "spec.compute.gpu", "integer"),
    ("gpu-negative", manifest(compute={"gpu": -1}), "spec.compute.gpu", "minimum"),
    ("unknown-field", manifest(replicaCount=3), "spec.replicaCount", "unknown field"),  # spec.replicas is a field
    ("unknown-nested", manifest(autoscaling={"targetQPS": 3}), "spec.autoscaling.targetQPS", "unknown field"),
    ("env-both", manifest(predictor={"image": "x", "path": "p.py", "env": [
        {"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
     "spec.predictor.env[0]", "mutually exclusive"),
    ("timeout-zero", manifest(requestTimeoutSeconds=0), "spec.requestTimeoutSeconds", "minimum"),
    ("concurrency-zero", manifest(maxConcurrency=0), "spec.maxConcurrency", "minimum"),
    ("class-name", manifest(predictor={"image": "x", "path": "p.py", "className": "my-class"}),
     "spec.predictor.className", "does not match"),
    ("interval", manifest(monitoring={"serviceMonitor": True, "interval": "often"}),
     "spec.monitoring.interval", "does not match"),
    ("ingress-host", manifest(networking={"ingress": {"path": "/x"}}), "spec.networking.ingress.host", "required"),
    ("git-revision", manifest(predictor={"source": {"git": {"repo": "r"}}, "path": "p.py"}),
     "spec.predictor.source.git.revision", "required"),
    ("no-spec", {k: v for k, v in MINIMAL.items() if k != "spec"}, "spec", "required"),
    ("bad-name", {**MINIMAL, "metadata": {"name": "Demo_API"}}, "metadata.name", "pattern"),
    ("kind", {**MINIMAL, "kind": "Deployment"}, "kind", "PredictorAPI"),
    ("api-version", {**MINIMAL, "apiVersion": "serving.predictorapi.dev/v2"}, "apiVersion", "v1alpha1"),
    # issue 25, points 8 and 9
    ("model-http-secret", manifest(model={"uri": "http://models.internal/m.bin", "secretRef": {"name": "c"}}),
     "spec.model.secretRef", "set model.allowInsecureHttp: true"),
    ("model-pvc-escape", manifest(model={"uri": "pvc://weights//etc"}), "spec.model.uri", "a PATH inside the claim"),
]


@pytest.mark.parametrize(("document", "field", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_manifest_is_refused_naming_the_field(document, field, words) -> None:
    problems = validate_document(document)
    assert problems, "accepted"
    assert any(p.field == field and words in p.message for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize("document", [
    manifest(autoscaling={"minReplicas": 2, "maxReplicas": 2}),
    manifest(predictor={"source": GIT, "path": "p.py"}),
    manifest(updateStrategy={"mode": "NoSurge", "maxSurge": 0, "maxUnavailable": 0}),
    manifest(updateStrategy={"maxSurge": 1, "maxUnavailable": "10%"}),
    manifest(predictor={"image": "x", "path": "p.py", "config": {"nested": {"any": [1, "two", None]}}}),
    manifest(compute={"cpu": "500m", "memory": "1Gi", "gpu": 2, "tolerations": [{"operator": "Exists"}]}),
    manifest(model={"uri": "http://models.internal/m.bin", "secretRef": {"name": "c"}, "allowInsecureHttp": True}),
    manifest(model={"uri": "http://models.internal/m.bin"}),
    manifest(model={"uri": "pvc://weights/a//b/./"}),
], ids=["fixed-replicas", "git", "nosurge", "int-and-percent", "free-config", "compute", "model-http-opted-in",
        "model-http-no-secret", "model-pvc-normalised"])
def test_good_manifest_passes(document) -> None:
    assert validate_document(document) == []


def test_validate_cli_prints_file_field_message_and_fails(tmp_path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(manifest()))
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    bad.write_text(yaml.safe_dump_all([other, manifest(autoscaling={"minReplicas": 3, "maxReplicas": 1}),
                                       manifest(maxConcurrency="many")]))
    result = subprocess.run([*CLI, "validate", str(good), str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{bad}: spec.autoscaling: autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas",
        f"{bad}: spec.maxConcurrency: 'many' is not of type 'integer'",
    ]
    ok = subprocess.run([*CLI, "validate", str(good), str(tmp_path / "good.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == ""


def test_validate_cli_reports_unreadable_yaml(tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    result = subprocess.run([*CLI, "validate", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and str(broken) in result.stdout and "YAML" in result.stdout
