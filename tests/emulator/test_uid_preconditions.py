"""The emulator refuses a write meant for an object that was replaced, as the API server does (409).

The operator reads from the watch streams, which can lag: a patch carries the `metadata.uid` it checked
and a delete carries `preconditions.uid`, so that a same-named object created meanwhile (someone else's)
is refused instead of overwritten or deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support.emulator import emulator_running

from predictorapi_operator.kube import Kube

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "uids"},
           "spec": {"ports": [{"port": 80}]}}


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Kube]:
    with emulator_running(tmp_path) as emulator:
        configuration = client.Configuration()
        configuration.host = emulator.url
        yield Kube(client.ApiClient(configuration))


def test_a_patch_or_delete_for_a_replaced_object_is_refused_with_409(kube: Kube) -> None:
    old = kube.create(SERVICE)["metadata"]["uid"]
    kube.delete("Service", "uids", "shop")
    new = kube.create(SERVICE)["metadata"]["uid"]  # the same name, another object
    with pytest.raises(ApiException) as patched:
        kube.patch("Service", "uids", "shop", {"metadata": {"uid": old, "labels": {"a": "b"}}})
    assert patched.value.status == 409 and "Precondition failed: UID in precondition" in patched.value.body
    with pytest.raises(ApiException) as deleted:
        kube.delete("Service", "uids", "shop", uid=old)
    assert deleted.value.status == 409
    live = kube.get("Service", "uids", "shop")
    assert live["metadata"]["uid"] == new and "labels" not in live["metadata"]
    kube.patch("Service", "uids", "shop", {"metadata": {"uid": new, "labels": {"a": "b"}}})  # its own uid: fine
    kube.delete("Service", "uids", "shop", uid=new)
    assert kube.get("Service", "uids", "shop") is None
