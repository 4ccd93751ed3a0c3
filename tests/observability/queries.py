"""Every PromQL expression monitoring/ ships, and the metric names the runtime exports."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
RULES_FILE = MONITORING / "rules" / "predictorapi-rules.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "dashboards" / "predictorapi.json"
ADAPTER_VALUES = MONITORING / "prometheus-adapter" / "values.yaml"
DOCS = REPO / "docs" / "observability.md"

# Metrics of kube-state-metrics (v2) the rules and the dashboard may use; nothing else outside the runtime.
KUBE_STATE_METRICS = frozenset({
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_ready",
    "kube_horizontalpodautoscaler_spec_target_metric",
    "kube_horizontalpodautoscaler_status_desired_replicas",
    "kube_pod_container_status_restarts_total",
})


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it comes from (for failure messages)."""

    where: str
    expr: str


def load_rule_groups() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES_FILE.read_text())["groups"]


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def adapter_rules() -> list[dict[str, Any]]:
    return yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]


def rule_queries() -> list[Query]:
    return [Query(f"rule {rule.get('record') or rule.get('alert')}", rule["expr"])
            for group in load_rule_groups() for rule in group["rules"]]


def recorded_names() -> set[str]:
    return {rule["record"] for group in load_rule_groups() for rule in group["rules"] if "record" in rule}


def substitute_dashboard(expr: str, namespace: str = "models", api: str = "demo", rate_interval: str = "15s") -> str:
    """What Grafana sends for one dashboard expression, given the template variables."""
    return (expr.replace("$__rate_interval", rate_interval)
            .replace("$namespace", namespace).replace("$api", api))


def dashboard_panel_queries(**variables: str) -> list[Query]:
    """Each panel target's expression, with the template variables substituted."""
    return [Query(f"panel {panel['title']!r} {target['refId']}", substitute_dashboard(target["expr"], **variables))
            for panel in load_dashboard()["panels"] for target in panel.get("targets", [])]


LABEL_VALUES = re.compile(r"^label_values\((?P<expr>.+),\s*(?P<label>[a-zA-Z_]\w*)\)$")


def dashboard_variable_queries(**variables: str) -> list[tuple[Query, str]]:
    """(series selector, label) of each `label_values(...)` template variable."""
    found = []
    for var in load_dashboard()["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = LABEL_VALUES.match(query.strip())
        assert match, f"variable {var['name']}: not label_values(selector, label): {query}"
        found.append((Query(f"variable {var['name']}", substitute_dashboard(match["expr"], **variables)),
                      match["label"]))
    return found


def substitute_adapter(template: str, series: str, label_matchers: str, group_by: str) -> str:
    """What prometheus-adapter sends for a metricsQuery (Go template fields it fills in)."""
    return (template.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", label_matchers)
            .replace("<<.GroupBy>>", group_by))


def adapter_queries() -> list[Query]:
    queries = []
    for i, rule in enumerate(adapter_rules()):
        queries.append(Query(f"adapter rule {i} seriesQuery", rule["seriesQuery"]))
        queries.append(Query(f"adapter rule {i} metricsQuery", substitute_adapter(
            rule["metricsQuery"], "predictorapi_in_flight_requests", 'namespace="models",pod=~"a|b"', "pod")))
    return queries


def all_queries() -> list[Query]:
    return [*rule_queries(), *dashboard_panel_queries(), *(q for q, _ in dashboard_variable_queries()),
            *adapter_queries()]


def runtime_metric_names() -> set[str]:
    """Every sample name a runtime exports (with _total/_bucket/_count/_sum), from a real registry."""
    from predictorapi.runtime.metrics import RuntimeMetrics

    registry = CollectorRegistry()
    metrics = RuntimeMetrics.register(registry, "x", 4)
    for field in dataclasses.fields(metrics):  # a labelled metric exports samples once a child exists
        metric = getattr(metrics, field.name)
        metric.labels(*["x"] * len(metric._labelnames))
    return {sample.name for family in registry.collect() for sample in family.samples}


def activator_metric_names() -> set[str]:
    """Every sample name the activator (scale to zero) exports, from a real registry."""
    from predictorapi.activator.core import ActivatorMetrics

    registry = CollectorRegistry()
    ActivatorMetrics.create("x", registry)  # creates every labelled child (the api's, each outcome)
    return {sample.name for family in registry.collect() for sample in family.samples}


def model_metric_names() -> set[str]:
    """Every sample name of many models (`spec.models`): a runtime process's memory tier and the model store's disk
    tier (its own container, scraped on the Service's `model-store` port), from real registries."""
    from predictorapi.models.metrics import CacheMetrics, StoreMetrics

    registry = CollectorRegistry()
    cache = CacheMetrics("x", registry)
    cache.hit("m")
    cache.loads.labels("x", "m", "ok")
    cache.evictions.labels("x", "m")
    cache.load_seconds.labels("x", "m")
    store = StoreMetrics("x", registry)
    store.download("m", "ok")
    store.disk_eviction("m")
    return {sample.name for family in registry.collect() for sample in family.samples}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def doc_anchors() -> set[str]:
    return {github_anchor(line.lstrip("#")) for line in DOCS.read_text().splitlines() if line.startswith("#")}
