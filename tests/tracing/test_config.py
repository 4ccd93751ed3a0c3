"""Tracing's switches and configuration: off (and OpenTelemetry not even imported) without an endpoint or with
`OTEL_SDK_DISABLED`; `validate` refuses bad fields by name; the operator renders the `OTEL_*` environment on the
runtime and init containers, over a user's entries of the same names; the init containers' commands are spans."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from support.bad_specs import COLLECTOR
from support.manifests import manifest
from support.otlp import Receiver
from support.processes import CLI, REPO

from predictorapi.tracing.config import tracing_enabled
from predictorapi.validation import parse_document, validate_document
from predictorapi_operator.builders import build_children

IMPORTS_NO_OPENTELEMETRY = """
import sys
from predictorapi.runtime.app import create_app
from predictorapi.runtime.settings import RuntimeSettings
app = create_app(settings=RuntimeSettings())
assert app.state.runtime.tracing is None
loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
assert not loaded, loaded
"""


def _without_otel() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


@pytest.mark.parametrize("extra", [{}, {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_SDK_DISABLED": "true"}])
def test_tracing_off_imports_no_opentelemetry(extra: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-c", IMPORTS_NO_OPENTELEMETRY], env={**_without_otel(), **extra},
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_rule_an_otlp_endpoint_turns_tracing_on() -> None:
    assert not tracing_enabled({})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{COLLECTOR}/v1/traces"})
    assert not tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_SDK_DISABLED": "TRUE"})
    assert not tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_TRACES_EXPORTER": "none"})


@pytest.mark.parametrize(("tracing", "field"), [
    ({"endpoint": "otel-collector:4318"}, "spec.monitoring.tracing.endpoint"),
    ({"endpoint": "grpc://otel-collector:4317"}, "spec.monitoring.tracing.endpoint"),
    ({"endpoint": COLLECTOR, "sampleRatio": 2}, "spec.monitoring.tracing.sampleRatio"),
    ({"endpoint": COLLECTOR, "sampleRatio": -1}, "spec.monitoring.tracing.sampleRatio"),
])
def test_validate_refuses_bad_tracing_fields_by_name(tracing: dict[str, Any], field: str) -> None:
    problems = validate_document(manifest(monitoring={"tracing": tracing}))
    assert [problem.field for problem in problems] == [field]


def _containers(**spec: Any) -> dict[str, dict[str, Any]]:
    api = parse_document(manifest(**spec))
    [deployment] = [child for child in build_children(api) if child["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod.get("initContainers", []) + pod["containers"]}


def _env(container: dict[str, Any]) -> dict[str, str]:
    names = [var["name"] for var in container["env"]]
    assert len(names) == len(set(names)), names
    return {var["name"]: var.get("value") for var in container["env"]}


def test_the_operator_sets_the_otel_environment_only_with_tracing() -> None:
    user_env = [{"name": "OTEL_TRACES_SAMPLER", "value": "always_off"},
                {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=search"}]
    predictor = {"image": "registry.example/demo:1", "path": "predictor.py", "env": user_env}
    model = {"uri": "s3://bucket/model"}
    plain = _containers(predictor=predictor, model=model)
    assert not [name for c in plain.values() for name in _env(c) if name.startswith("OTEL_") and
                name not in ("OTEL_TRACES_SAMPLER", "OTEL_RESOURCE_ATTRIBUTES")]
    assert _env(plain["runtime"])["OTEL_TRACES_SAMPLER"] == "always_off"  # the user's own, untouched
    traced = _containers(predictor=predictor, model=model,
                         monitoring={"tracing": {"endpoint": COLLECTOR, "sampleRatio": 0.1}})
    expected = {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_SERVICE_NAME": "demo", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    runtime_env = _env(traced["runtime"])
    assert runtime_env.items() >= expected.items()
    assert runtime_env["OTEL_RESOURCE_ATTRIBUTES"] == "team=search"  # not set by the spec: the user's stays
    assert _env(traced["fetch-model"]).items() >= expected.items()
    without_ratio = _env(_containers(predictor=predictor, monitoring={"tracing": {"endpoint": COLLECTOR}})["runtime"])
    assert without_ratio["OTEL_TRACES_SAMPLER"] == "always_off"  # the spec sets no sampler: the user's wins


def test_an_init_containers_command_is_a_span(receiver: Receiver, tmp_path: Any) -> None:
    env = {**_without_otel(), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "demo",
           "PREDICTORAPI_TERMINATION_LOG": str(tmp_path / "termination")}
    result = subprocess.run([*CLI, "fetch-model"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr  # no --uri: refused, and the span says so
    [span] = receiver.named("predictorapi fetch-model")
    assert span.service == "demo" and span.attributes["process.exit.code"] == 2 and span.status_code == 2


STARTS_A_PROVIDER = """
import logging
logging.basicConfig()
from predictorapi.tracing.provider import start_provider
start_provider("demo").shutdown()
"""


def test_a_grpc_protocol_is_named_in_a_warning(receiver: Receiver) -> None:
    env = {**_without_otel(), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    result = subprocess.run([sys.executable, "-c", STARTS_A_PROVIDER], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "OTLP protocol 'grpc' is not built in" in result.stderr
