"""How many API requests the operator sends: counted by the emulator, per verb and resource (exact, not timed).

A new PredictorAPI with four children (Service, Deployment, HPA, PodDisruptionBudget) costs its writes (four
creates, one status) plus what kopf writes itself; reads come from the watch streams. A reconcile that finds
nothing to change sends nothing at all. kopf's watch streams (one list and one watch per resource, not per
API) are not counted here; `bench/operator_scale.py` reports them apart.
"""

from __future__ import annotations

from collections import Counter

from .conftest import TEST_USER_AGENT
from .test_ownership import after_resyncs
from .test_reconcile import api

AUTOSCALING = {"minReplicas": 1, "maxReplicas": 3}
CHILDREN = ("Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget")
WRITES = {"create", "patch", "update", "delete"}


def operator_requests(cluster, before: Counter) -> Counter:
    """The operator's requests since `before`, by (verb, resource), without kopf's watch streams."""
    since: Counter = Counter()
    for (agent, _, resource, verb), count in (cluster.emulator.emulator.counts - before).items():
        if agent != TEST_USER_AGENT and not (agent.startswith("kopf/") and verb in ("list", "watch")):
            since[(verb, resource)] += count
    return since


def handled(cluster, namespace: str, name: str, handler: str) -> int:
    """How many times kopf logged a handler of this object as done (succeeded, or failed and retried)."""
    return sum(1 for line in cluster.log.read_text().splitlines()
               if f"[{namespace}/{name}] Handler '{handler}'" in line and "invoked" not in line)


def converged(cluster, namespace: str, name: str) -> bool:
    status = (cluster.get("PredictorAPI", namespace, name) or {}).get("status")
    return bool(status) and all(cluster.get(kind, namespace, name) for kind in CHILDREN)


def test_a_new_api_with_four_children_costs_at_most_nine_requests_and_an_unchanged_one_none(emulated) -> None:
    cluster, ns = emulated, "team-count"
    cluster.kube.create(api("warm-up", ns, autoscaling=AUTOSCALING))  # the operator is up, its watches open
    cluster.wait_for(lambda: converged(cluster, ns, "warm-up"), what="the first API reconciled")
    cluster.wait_for(lambda: handled(cluster, ns, "warm-up", "on_spec"), what="its handler done")

    before = Counter(cluster.emulator.emulator.counts)
    cluster.kube.create(api("counted", ns, autoscaling=AUTOSCALING))
    cluster.wait_for(lambda: converged(cluster, ns, "counted"), what="four children and a status")
    cluster.wait_for(lambda: handled(cluster, ns, "counted", "on_spec"), what="its handler done")
    requests = operator_requests(cluster, before)
    assert sum(requests.values()) <= 9, requests
    resources = ("services", "deployments", "horizontalpodautoscalers", "poddisruptionbudgets")
    assert all(requests[("create", resource)] == 1 for resource in resources), requests
    assert requests[("patch", "predictorapis/status")] == 1, "one status write per reconcile"
    assert not any(verb == "get" for verb, _ in requests), f"reads come from the watch streams: {requests}"

    # A second reconcile that changes nothing (a hand edit the operator ignores, then the resync timer)
    # sends nothing: no write, and no read either.
    before = Counter(cluster.emulator.emulator.counts)
    seen = handled(cluster, ns, "counted", "child-services")
    cluster.kube.patch("Service", ns, "counted", {"metadata": {"annotations": {"example.com/note": "hand"}}})
    cluster.wait_for(lambda: handled(cluster, ns, "counted", "child-services") > seen, what="the child event handled")
    after_resyncs(cluster, ns, "counted", 1)
    again = operator_requests(cluster, before)
    assert not {key: n for key, n in again.items() if key[0] in WRITES}, f"an unchanged API was written: {again}"
    assert not again, f"an unchanged API was read with GETs: {again}"
