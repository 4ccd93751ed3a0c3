"""The Argo Rollouts AnalysisTemplate that judges a canary revision from the runtime's own metrics.

Each check is defined once here: its PromQL (selecting the canary revision's pods by the
`rollouts_pod_template_hash` series label that the ServiceMonitor copies from the pod), its limit, the
Argo Rollouts conditions, and :meth:`Check.verdict`, which reads a query result as those conditions do
(the tests evaluate the same queries in a real Prometheus and judge them with it).

A query returns nothing while the revision answered fewer than `minRequests` requests in `interval`:
both conditions are then false, the measurement is `Inconclusive`, and Argo Rollouts pauses the rollout
instead of passing the step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from predictorapi.contracts.labels import ROLLOUT_HASH_SERIES_LABEL
from predictorapi.contracts.metrics import API_LABEL as METRIC_API_LABEL
from predictorapi.contracts.metrics import REQUEST_DURATION, REQUESTS
from predictorapi.spec import CanaryAnalysis, PredictorAPI
from predictorapi_operator.builders.meta import metadata

CANARY_HASH_ARG = "canary-hash"
"""The AnalysisTemplate's argument: the pod template hash of the revision under analysis."""
CANARY_HASH = "{{args." + CANARY_HASH_ARG + "}}"
ERROR_RATIO = "error-ratio"
LATENCY_P99 = "latency-p99"
Verdict = Literal["Successful", "Failed", "Inconclusive"]
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str) -> float:
    """`2s` → 2.0, `500ms` → 0.5, `1.5s` → 1.5, `2m` → 120.0."""
    found = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", duration)
    if found is None:
        raise ValueError(f"not a duration: {duration!r}")
    return float(found[1]) * _UNITS[found[2]]


@dataclass(frozen=True)
class Check:
    """One measurement of the canary revision: a PromQL query and the largest value that passes."""

    name: str
    query: str
    limit: float

    @property
    def success_condition(self) -> str:
        """Argo Rollouts' `successCondition` (an expr expression over `result`)."""
        return f"len(result) > 0 && result[0] <= {self.limit!r}"

    @property
    def failure_condition(self) -> str:
        """Argo Rollouts' `failureCondition`: neither holds on an empty result (Inconclusive)."""
        return f"len(result) > 0 && result[0] > {self.limit!r}"

    def verdict(self, result: list[float]) -> Verdict:
        """What Argo Rollouts concludes from a result (the vector's values) under the two conditions."""
        if not result:
            return "Inconclusive"
        return "Successful" if result[0] <= self.limit else "Failed"


def revision_selector(namespace: str, api: str, revision: str) -> str:
    """The label matchers of one revision's series: its namespace, its API and its pod template hash."""
    return f'namespace="{namespace}", {METRIC_API_LABEL}="{api}", {ROLLOUT_HASH_SERIES_LABEL}="{revision}"'


def checks(namespace: str, api: str, analysis: CanaryAnalysis, revision: str = CANARY_HASH) -> list[Check]:
    """The error-ratio and p99-latency checks of one revision (the template's argument by default)."""
    where, window = revision_selector(namespace, api, revision), analysis.interval
    enough = f"on() (sum(increase({REQUESTS}_total{{{where}}}[{window}])) >= {analysis.min_requests})"
    errors = (f'(sum(rate({REQUESTS}_total{{{where}, code=~"5.."}}[{window}])) or on() vector(0))'
              f" / sum(rate({REQUESTS}_total{{{where}}}[{window}])) and {enough}")
    p99 = (f"histogram_quantile(0.99, sum by (le) (rate({REQUEST_DURATION}_bucket{{{where}}}[{window}])))"
           f" and {enough}")
    return [Check(ERROR_RATIO, errors, analysis.max_error_ratio),
            Check(LATENCY_P99, p99, seconds(analysis.max_latency_p99))]


def _metric(check: Check, prometheus_url: str) -> dict[str, Any]:
    return {
        "name": check.name,
        "count": 1,
        "failureLimit": 0,
        "successCondition": check.success_condition,
        "failureCondition": check.failure_condition,
        "provider": {"prometheus": {"address": prometheus_url, "query": check.query}},
    }


def build_analysis_template(api: PredictorAPI, prometheus_url: str) -> dict[str, Any]:
    """The AnalysisTemplate every canary step runs, with the canary's pod template hash as argument."""
    namespace = api.metadata.namespace or "default"
    metrics = [_metric(check, prometheus_url) for check in checks(namespace, api.metadata.name,
                                                                  api.spec.rollout.analysis)]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": metadata(api),
        "spec": {"args": [{"name": CANARY_HASH_ARG}], "metrics": metrics},
    }
