"""monitoring/: promtool accepts and unit-tests the rules, every query parses and names real metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import promql_parser
import pytest
import yaml
from observability.queries import (
    DASHBOARD,
    DOCS,
    KUBE_STATE_METRICS,
    MONITORING,
    PROMETHEUS_RULE,
    RULES_FILE,
    Query,
    activator_metric_names,
    adapter_rules,
    all_queries,
    doc_anchors,
    load_dashboard,
    load_rule_groups,
    model_metric_names,
    recorded_names,
    runtime_metric_names,
)
from prometheus_client import CollectorRegistry

ALERTS = ("PredictorAPINoReadyReplicas", "PredictorAPIHighErrorRatio", "PredictorAPIHighLatencyP99",
          "PredictorAPISaturated", "PredictorAPIModelLoadFailures", "PredictorAPIAbandonedCalls",
          "PredictorAPIColdStartTimeouts", "PredictorAPIModelListingFailing")


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: install Debian's `prometheus` package (scripts/setup.sh does, as root)"
    return path


def test_promtool_check_rules():
    result = subprocess.run([promtool(), "check", "rules", str(RULES_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    tests = sorted((MONITORING / "rules" / "tests").glob("*.yaml"))
    assert tests
    result = subprocess.run([promtool(), "test", "rules", *map(str, tests)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing():
    firing, quiet = set(), set()
    for path in (MONITORING / "rules" / "tests").glob("*.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for group in load_rule_groups() for rule in group["rules"] if "alert" in rule}
    assert alerts == set(ALERTS)
    assert alerts <= firing, f"never shown firing: {alerts - firing}"
    assert alerts <= quiet, f"never shown quiet: {alerts - quiet}"


def test_prometheusrule_carries_the_rule_file():
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"]["groups"] == load_rule_groups(), "run python monitoring/generate_prometheusrule.py"
    check = subprocess.run([sys.executable, str(MONITORING / "generate_prometheusrule.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_alerts_are_documented():
    anchors = doc_anchors()
    for group in load_rule_groups():
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            annotations = rule["annotations"]
            assert {"summary", "description", "runbook_url"} <= annotations.keys(), rule["alert"]
            url = annotations["runbook_url"]
            assert url.startswith("https://github.com/predictorapi/predictorapi/blob/main/docs/observability.md#")
            anchor = url.rsplit("#", 1)[1]
            assert anchor == rule["alert"].lower()
            assert anchor in anchors, f"docs/observability.md has no heading for #{anchor}"
            assert rule["labels"]["severity"] in {"critical", "warning"}


def selected_names(query: Query, node: promql_parser.VectorSelector) -> list[str]:
    """The metric names a selector selects: its name, or a `__name__` matcher of plain names (`a|b`)."""
    if node.name:
        return [node.name]
    by_name = [m for m in node.matchers.matchers if m.name == "__name__"]
    assert by_name, f"{query.where}: selector without a metric name"
    (matcher,) = by_name
    assert matcher.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.Re), query.where
    names = matcher.value.split("|") if matcher.op == promql_parser.MatchOp.Re else [matcher.value]
    assert all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) for name in names), \
        f"{query.where}: __name__ must list plain metric names: {matcher.value}"
    return names


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.where)
def test_query_parses_and_uses_known_metrics(query: Query):
    try:
        ast = promql_parser.parse(query.expr)
    except ValueError as exc:
        pytest.fail(f"{query.where}: {exc}\n{query.expr}")
    names: list[str] = []

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            names.extend(selected_names(query, node))
        return True

    promql_parser.walk(ast, visit)
    assert names, f"{query.where}: selects no metric"
    known = (runtime_metric_names() | activator_metric_names() | model_metric_names() | KUBE_STATE_METRICS
             | recorded_names())
    unknown = sorted(set(names) - known)
    assert not unknown, f"{query.where}: neither exported by the runtime nor allow-listed: {unknown}"


def test_activator_metrics_carry_the_api_label():
    from predictorapi.activator.core import ActivatorMetrics
    from predictorapi.contracts import metrics as names

    registry = CollectorRegistry()
    ActivatorMetrics.create("sentiment", registry)
    families = {family.name: family for family in registry.collect()}
    for name in (names.ACTIVATOR_HELD, names.ACTIVATOR_IN_FLIGHT, names.ACTIVATOR_COLD_STARTS,
                 names.ACTIVATOR_COLD_START_WAIT, names.ACTIVATOR_OUTCOMES):
        samples = families[name].samples
        assert samples, name
        assert all(sample.labels.get(names.API_LABEL) == "sentiment" for sample in samples), name
    outcomes = {s.labels["outcome"] for s in families[names.ACTIVATOR_OUTCOMES].samples}
    assert outcomes == {"forwarded", "timed_out", "refused", "failed", "abandoned"}


def test_rules_use_runtime_and_recorded_metrics_only_as_declared():
    # A name with a colon is a recording rule: it must be recorded by this file.
    runtime = runtime_metric_names()
    assert "predictorapi_in_flight_requests" in runtime
    assert all(":" in name for name in recorded_names())


def test_adapter_exposes_in_flight_per_pod():
    (rule,) = adapter_rules()
    assert rule["name"]["as"] == "predictorapi_in_flight_requests"
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    assert "predictorapi_in_flight_requests" in rule["seriesQuery"]
    assert "<<.Series>>{<<.LabelMatchers>>}" in rule["metricsQuery"]
    assert "<<.GroupBy>>" in rule["metricsQuery"]


def test_dashboard_shape():
    dashboard = load_dashboard()
    variables = {var["name"] for var in dashboard["templating"]["list"]}
    assert {"namespace", "api"} <= variables
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for metric in ("predictorapi_requests_total", "predictorapi_request_duration_seconds_bucket",
                   "predictorapi_in_flight_requests", "predictorapi_max_concurrency", "predictorapi_queue_length",
                   "predictorapi_rejected_requests_total", "kube_deployment_spec_replicas",
                   "kube_deployment_status_replicas_ready", "predictorapi_batch_size_bucket",
                   "predictorapi_predictor_load_seconds", "predictorapi_stream_time_to_first_item_seconds_bucket",
                   "predictorapi_stream_duration_seconds_bucket", "predictorapi_streams_ended_total",
                   "predictorapi_stream_items_sum", "predictorapi_activator_held_requests",
                   "predictorapi_activator_in_flight_requests", "predictorapi_activator_cold_starts_total",
                   "predictorapi_activator_first_request_wait_seconds_bucket",
                   "predictorapi_activator_requests_total", "predictorapi_model_cache_requests_total",
                   "predictorapi_model_loads_total", "predictorapi_model_downloads_total",
                   "predictorapi_model_load_seconds_bucket", "predictorapi_model_evictions_total",
                   "predictorapi_model_disk_evictions_total", "predictorapi_models_in_memory",
                   "predictorapi_models_on_disk", "predictorapi_model_listing_errors_total",
                   "predictorapi_post_predict_total"):
        assert metric in exprs, f"no panel shows {metric}"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert 'namespace="$namespace"' in target["expr"], panel["title"]
            assert '="$api"' in target["expr"], panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exemplars = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if t.get("exemplar")]
    assert exemplars and all("predictorapi_request_duration_seconds_bucket" in expr for expr in exemplars)


def test_kustomization_ships_rule_and_dashboard():
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (MONITORING / resource).is_file(), resource
    (generator,) = kustomization["configMapGenerator"]
    assert generator["options"]["disableNameSuffixHash"] is True
    assert generator["options"]["labels"]["grafana_dashboard"] == "1"
    assert [MONITORING / f for f in generator["files"]] == [DASHBOARD]


def test_kustomize_renders():
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # the structure is checked above; the real render where kubectl exists
        return
    result = subprocess.run([kubectl, "kustomize", str(MONITORING)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [("ConfigMap", "predictorapi-dashboard"), ("PrometheusRule", "predictorapi")]
    (configmap,) = (d for d in docs if d["kind"] == "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"]["predictorapi.json"] == DASHBOARD.read_text()


def _pointer(document: object, path: str) -> tuple[object, str | int]:
    *parents, last = path.lstrip("/").split("/")
    for part in parents:
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document, int(last) if isinstance(document, list) else last


def test_documented_threshold_patch_applies():
    """The overlay in docs/observability.md#thresholds targets the alerts it names, with valid PromQL."""
    docs = DOCS.read_text()
    overlay = yaml.safe_load(docs.split("# my-monitoring/kustomization.yaml\n", 1)[1].split("```", 1)[0])
    (patch,) = overlay["patches"]
    assert patch["target"] == {"kind": "PrometheusRule", "name": "predictorapi"}
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    for op in yaml.safe_load(patch["patch"]):
        parent, key = _pointer(manifest, op["path"])
        if op["op"] == "test":
            assert parent[key] == op["value"], op
        else:
            assert op["op"] == "replace"
            promql_parser.parse(op["value"])
            parent[key] = op["value"]
    alerts = [rule["alert"] for rule in load_rule_groups()[1]["rules"]]
    documented = re.findall(r"(\d)\s+`(PredictorAPI\w+)`", docs.split("## Thresholds", 1)[1])
    assert [(str(i), name) for i, name in enumerate(alerts)] == documented
