"""The operator under faults: generated specs (valid and not), API errors injected at the emulator."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.manifests import manifest

from .test_reconcile import condition

# (mutation, the field its message must name)
BREAKAGES: list[tuple[dict[str, Any], str]] = [
    ({"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}, "spec.autoscaling"),
    ({"maxConcurrency": 0}, "spec.maxConcurrency"),
    ({"replicas": -1}, "spec.replicas"),
    ({"compute": {"gpu": "many"}}, "spec.compute.gpu"),
    ({"updateStrategy": {"maxSurge": "lots"}}, "spec.updateStrategy.maxSurge"),
    ({"predictor": {"path": "p.py"}}, "spec.predictor"),
    ({"autoscaling": {"metric": "qps"}}, "spec.autoscaling.metric"),
    ({"monitoring": {"interval": "often"}}, "spec.monitoring.interval"),
]
_names = itertools.count()


@st.composite
def documents(draw) -> tuple[dict[str, Any], str | None]:
    """A PredictorAPI and, when it is broken, the field its Degraded message must name."""
    low = draw(st.integers(1, 3))
    spec: dict[str, Any] = {
        "autoscaling": {"minReplicas": low, "maxReplicas": draw(st.integers(low, 6)),
                        "metric": draw(st.sampled_from(["concurrency", "cpu"]))},
        "maxConcurrency": draw(st.integers(1, 64)),
        "predictor": {"image": "registry.example/p:1", "path": "predictor.py",
                      "config": draw(st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2))},
        "monitoring": {"serviceMonitor": draw(st.booleans())},
    }
    broken = draw(st.none() | st.sampled_from(BREAKAGES))
    field = None
    if broken is not None:
        change, field = broken
        for key, value in change.items():
            spec[key] = {**spec[key], **value} if isinstance(spec.get(key), dict) and key != "predictor" else value
    document = manifest(**spec)
    document["metadata"] = {"name": f"gen-{next(_names)}", "namespace": "generated"}
    return document, field


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(generated=documents())
def test_generated_specs_converge_or_degrade_naming_the_field(emulated, generated) -> None:
    cluster = emulated
    document, field = generated
    name = document["metadata"]["name"]
    (cluster.kube.create if field is None else cluster.create_invalid)(copy.deepcopy(document))
    status = cluster.wait_for(lambda: (cluster.get("PredictorAPI", "generated", name) or {}).get("status"),
                              what=f"a status on {name}")
    degraded = condition(status, "Degraded")
    if field is None:
        assert degraded["status"] == "False", degraded
        assert cluster.get("Deployment", "generated", name) is not None
    else:
        assert degraded["status"] == "True" and degraded["reason"] == "InvalidSpec"
        assert field in degraded["message"], degraded["message"]
        assert cluster.get("Deployment", "generated", name) is None


def test_no_unhandled_exception_in_the_operator_log(emulated) -> None:
    text = emulated.log.read_text()
    # kopf's words for an exception a handler did not turn into a Temporary/PermanentError:
    assert "failed with an exception" not in text
    assert "Unhandled" not in text


def test_injected_api_errors_are_retried_until_convergence(emulated) -> None:
    cluster = emulated
    faults = cluster.emulator.emulator
    faults.fail("POST", "deployments", 500, times=2)
    faults.fail("POST", "services", 409, times=1)
    faults.fail("PATCH", "predictorapis", 500, times=1)
    cluster.kube.create({**manifest(), "metadata": {"name": "faulty", "namespace": "faults"}})
    cluster.wait_for(lambda: cluster.get("Deployment", "faults", "faulty") and cluster.get(
        "Service", "faults", "faulty"), timeout=120, what="children despite injected errors")
    cluster.wait_for(lambda: (cluster.get("PredictorAPI", "faults", "faulty") or {}).get("status"), timeout=120,
                     what="a status despite injected errors")
    assert all(f.times == 0 for f in faults._faults), "every injected fault was hit"


def test_a_refused_child_is_reported_and_retried_later(emulated) -> None:
    cluster = emulated
    cluster.emulator.emulator.fail("POST", "horizontalpodautoscalers", 422, times=1)
    document = manifest(autoscaling={"minReplicas": 1, "maxReplicas": 3})
    cluster.kube.create({**document, "metadata": {"name": "refused", "namespace": "faults"}})

    def events() -> list[dict[str, Any]]:
        items = cluster.kube.request("GET", "/api/v1/namespaces/faults/events").get("items", [])
        return [e for e in items if e.get("reason") == "ApplyFailed"
                and (e.get("involvedObject") or {}).get("name") == "refused"]

    message = cluster.wait_for(events, what="an ApplyFailed event")[0]["message"]
    assert message.startswith("HorizontalPodAutoscaler refused was refused by the API server: ")
    assert "is invalid" in message, "the API server's own message"
    # The resync timer applies it again once the API server accepts it.
    cluster.wait_for(lambda: cluster.get("HorizontalPodAutoscaler", "faults", "refused"), timeout=120,
                     what="the HPA on a later resync")


def test_a_dropped_watch_loses_no_object(emulated) -> None:
    cluster = emulated
    cluster.emulator.emulator.drop_watches()  # the next event ends every stream, and is lost to it
    cluster.kube.create({**manifest(), "metadata": {"name": "after-drop", "namespace": "faults"}})
    cluster.wait_for(lambda: cluster.get("Deployment", "faults", "after-drop"), timeout=120,
                     what="the Deployment of an API created while the watch was dropped")
