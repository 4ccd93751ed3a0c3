"""Every bad spec the CRD alone must refuse (`support.bad_specs`, `in_crd`) is refused by the strict emulator as a
PredictorAPI, with a 422 naming the field; so are the bad metadata cases (the API server checks any object's)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.emulator import RunningEmulator, emulator_running

bad_specs = pytest.importorskip("support.bad_specs")

CASES = [case for case in bad_specs.BAD_SPECS if case.in_crd or case.field.startswith("metadata")]
PATH = "/apis/serving.predictorapi.dev/v1alpha1/namespaces/{namespace}/predictorapis"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with emulator_running(tmp_path_factory.mktemp("bad-specs"), monitoring=False) as emulator:
        yield emulator


def names(field: str, causes: list[dict[str, Any]]) -> bool:
    """A cause names `field` or a field inside it (for labels and annotations, the API server names the map)."""
    for cause in causes:
        named = cause.get("field", "")
        if named == field or named.startswith((f"{field}.", f"{field}[")):
            return True
        if named in ("metadata.labels", "metadata.annotations") and field.startswith(f"{named}."):
            return True
    return False


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_spec_is_refused_naming_its_field(running, case) -> None:
    document = copy.deepcopy(case.document)
    meta = document.setdefault("metadata", {})
    if case.field != "metadata.name":
        meta["name"] = f"bad-{case.id}"[:63].rstrip("-")
    namespace = meta.get("namespace") or "bad-specs"
    body = json.dumps(document, allow_nan=False)
    with httpx.Client(base_url=running.url, timeout=10) as http:
        answer = http.post(PATH.format(namespace=namespace), content=body,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, f"accepted: {answer.text[:300]}"
    status = answer.json()
    assert status["reason"] == "Invalid" and status["message"].startswith(
        f'PredictorAPI.serving.predictorapi.dev "{meta["name"]}" is invalid: '), status["message"]
    assert names(case.field, status["details"]["causes"]), (case.field, status["message"])


def test_there_are_cases() -> None:
    assert len([c for c in CASES if c.in_crd]) >= 10
