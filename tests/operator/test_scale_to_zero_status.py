"""The pure status of an API that scales to zero: Ready (ScaledToZero) at zero replicas, Ready (ScalingFromZero)
while the first replica after zero starts, KEDANotInstalled when the cluster cannot scale it."""

from __future__ import annotations

from predictorapi_operator.status import (
    INSTALL_KEDA,
    KEDA_NOT_INSTALLED,
    SCALED_TO_ZERO,
    SCALING_FROM_ZERO,
    Observed,
    announcement,
    compute_status,
    scaled_to_zero,
)

from .test_status import NOW, conditions, deployment


def test_zero_replicas_is_ready_only_for_an_api_that_scales_to_zero() -> None:
    zero = deployment(replicas=0, ready=0, updated=0, total=0, available="False")
    status = compute_status(Observed(generation=2, deployment=zero, scales_to_zero=True), None, NOW)
    assert conditions(status) == {"Ready": ("True", SCALED_TO_ZERO), "Progressing": ("False", "RolloutComplete"),
                                  "Degraded": ("False", "AsExpected")}
    assert (status["phase"], status["ready"], status["replicas"]) == ("Ready", "0/0", 0)
    pinned = compute_status(Observed(generation=2, deployment=zero), None, NOW)
    assert conditions(pinned)["Ready"][0] == "False", "`replicas: 0` pinned by hand is not scale to zero"


def test_not_at_zero_until_the_last_pod_is_gone_and_the_spec_observed() -> None:
    assert scaled_to_zero(deployment(replicas=0, ready=0, updated=0, total=0))
    assert not scaled_to_zero(deployment(replicas=0, ready=0, updated=0, total=1)), "a pod still terminating"
    assert not scaled_to_zero(deployment(replicas=0, ready=0, updated=0, total=0, generation=2, observed=1))
    assert not scaled_to_zero(deployment(replicas=1, ready=0, updated=0, total=0))
    draining = compute_status(Observed(generation=2, scales_to_zero=True, deployment=deployment(
        replicas=0, ready=1, updated=1, total=1)), None, NOW)
    assert conditions(draining)["Ready"] != ("True", SCALED_TO_ZERO)


def test_waking_from_zero_stays_ready_and_a_first_start_does_not() -> None:
    zero = deployment(replicas=0, ready=0, updated=0, total=0, available="False")
    at_zero = compute_status(Observed(generation=2, deployment=zero, scales_to_zero=True), None, NOW)
    asked = deployment(replicas=1, ready=0, updated=0, total=0, generation=3, observed=2, available="False")
    seen = compute_status(Observed(generation=2, deployment=asked, scales_to_zero=True), at_zero, NOW)
    assert conditions(seen)["Ready"] == ("True", SCALING_FROM_ZERO), "KEDA's count, not yet observed: waking"
    starting = deployment(replicas=1, ready=0, updated=1, total=1, available="False")
    waking = compute_status(Observed(generation=2, deployment=starting, scales_to_zero=True), at_zero, NOW)
    assert conditions(waking)["Ready"] == ("True", SCALING_FROM_ZERO) and waking["phase"] == "Ready"
    assert "requests are held" in waking["conditions"][0]["message"]
    still = compute_status(Observed(generation=2, deployment=starting, scales_to_zero=True), waking, NOW)
    assert conditions(still)["Ready"] == ("True", SCALING_FROM_ZERO)
    up = compute_status(Observed(generation=2, deployment=deployment(replicas=1, ready=1, updated=1, total=1),
                                 scales_to_zero=True), still, NOW)
    assert conditions(up)["Ready"] == ("True", "Serving")
    first = compute_status(Observed(generation=1, deployment=starting, scales_to_zero=True), None, NOW)
    assert conditions(first)["Ready"] == ("False", "RollingOut"), "a first start is a rollout, not a wake"


def test_keda_not_installed_is_degraded_and_announced() -> None:
    status = compute_status(Observed(generation=1, scales_to_zero=True, blocked=(KEDA_NOT_INSTALLED, INSTALL_KEDA)),
                            None, NOW)
    assert conditions(status)["Degraded"] == ("True", KEDA_NOT_INSTALLED) and status["phase"] == "Degraded"
    assert conditions(status)["Ready"] == ("False", KEDA_NOT_INSTALLED)
    assert announcement(None, status) == (KEDA_NOT_INSTALLED, INSTALL_KEDA)
    assert "install KEDA" in INSTALL_KEDA and "nothing was changed" in INSTALL_KEDA
